import type { FastifyPluginAsync } from "fastify";
import { orchestratorError } from "../../errors.js";
import { dryRunRebuilds, listRebuilds } from "../auto-rebuild.js";
import { findBuild } from "../catalog/builds.js";
import { createTag, describeTag, editTag, latestTagged, listTagged, listTags, setTagged, type TagSpec, tagId } from "../catalog/tags.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";
import { contractRoutes } from "../http/contract-route.js";
import { submitNewRepo } from "../tasks/methods/new-repo.js";

/** Tags, their inheritance and the builds tagged into them. */
export const tagRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  const route = contractRoutes(app);
  route("listTags", async () => listTags(ctx.db));
  route<{ Params: { name: string } }>("getTag", async (request) => describeTag(ctx.db, request.params.name));
  route<{ Body: { name: string } & TagSpec }>("createTag", async (request, reply) => {
    const { name: tagName, ...spec } = request.body;
    return reply.status(201).send({ id: await createTag(ctx, caller(request), tagName, spec) });
  });
  route<{ Params: { name: string }; Body: TagSpec }>("editTag", async (request) => {
    await editTag(ctx, caller(request), request.params.name, request.body);
    return describeTag(ctx.db, request.params.name);
  });
  route<{ Params: { name: string }; Querystring: { inherit?: boolean; latest?: boolean } }>("listTagged", async (request) =>
    listTagged(ctx.db, request.params.name, request.query),
  );
  route<{ Params: { name: string; pkg: string } }>("latestTagged", async (request) => {
    const [latest] = await latestTagged(ctx.db, await tagId(ctx.db, request.params.name), request.params.pkg);
    if (!latest) throw orchestratorError("NOT_FOUND", `no build of '${request.params.pkg.slice(0, 100)}' in tag '${request.params.name}'`);
    return latest;
  });
  route<{ Params: { name: string }; Body: { build: string; regen?: boolean } }>("tagBuild", async (request) => {
    await setTagged(ctx, caller(request), request.params.name, request.body.build, true);
    return { repoTask: request.body.regen === false ? null : await submitNewRepo(ctx, caller(request), request.params.name) };
  });
  route<{ Params: { name: string }; Querystring: { build: string; regen?: boolean } }>("untagBuild", async (request) => {
    await setTagged(ctx, caller(request), request.params.name, request.query.build, false);
    return { repoTask: request.query.regen === false ? null : await submitNewRepo(ctx, caller(request), request.params.name) };
  });
  route<{ Params: { name: string } }>("listRebuilds", async (request) => listRebuilds(ctx, request.params.name));
  route<{ Params: { name: string }; Querystring: { build?: string } }>("planRebuilds", async (request) =>
    dryRunRebuilds(
      ctx,
      request.params.name,
      request.query.build === undefined ? undefined : (await findBuild(ctx.db, request.query.build)).id,
    ),
  );
  route<{ Params: { name: string } }>("regenRepo", async (request, reply) =>
    reply.status(202).send({ task: await submitNewRepo(ctx, caller(request), request.params.name) }),
  );
};
