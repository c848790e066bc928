import type { FastifyPluginAsync } from "fastify";
import { orchestratorError } from "../../errors.js";
import { dryRunRebuilds, listRebuilds } from "../auto-rebuild.js";
import { findBuild } from "../catalog/builds.js";
import { createTag, describeTag, editTag, latestTagged, listTagged, listTags, setTagged, type TagSpec, tagId } from "../catalog/tags.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";
import { submitNewRepo } from "../tasks/methods/new-repo.js";

/** Tags, their inheritance and the builds tagged into them. */
export const tagRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.get("/api/v1/tags", { config: { summary: "List tags" } }, async () => listTags(ctx.db));
  app.get<{ Params: { name: string } }>("/api/v1/tags/:name", { config: { summary: "One tag with its inheritance" } }, async (request) =>
    describeTag(ctx.db, request.params.name),
  );
  app.post<{ Body: { name: string } & TagSpec }>(
    "/api/v1/tags",
    { config: { perm: "tag", summary: "Create a tag" } },
    async (request, reply) => {
      const { name: tagName, ...spec } = request.body;
      return reply.status(201).send({ id: await createTag(ctx, caller(request), tagName, spec) });
    },
  );
  app.patch<{ Params: { name: string }; Body: TagSpec }>(
    "/api/v1/tags/:name",
    {
      config: { perm: "tag", summary: "Change a tag's arches, parents or external repos" },
    },
    async (request) => {
      await editTag(ctx, caller(request), request.params.name, request.body);
      return describeTag(ctx.db, request.params.name);
    },
  );
  app.get<{ Params: { name: string }; Querystring: { inherit?: boolean; latest?: boolean } }>(
    "/api/v1/tags/:name/builds",
    {
      config: { summary: "Builds in a tag" },
    },
    async (request) => listTagged(ctx.db, request.params.name, request.query),
  );
  app.get<{ Params: { name: string; pkg: string } }>(
    "/api/v1/tags/:name/latest/:pkg",
    {
      config: { summary: "Latest build of a package in a tag (with inheritance)" },
    },
    async (request) => {
      const [latest] = await latestTagged(ctx.db, await tagId(ctx.db, request.params.name), request.params.pkg);
      if (!latest)
        throw orchestratorError("NOT_FOUND", `no build of '${request.params.pkg.slice(0, 100)}' in tag '${request.params.name}'`);
      return latest;
    },
  );
  app.post<{ Params: { name: string }; Body: { build: string; regen?: boolean } }>(
    "/api/v1/tags/:name/builds",
    {
      config: { perm: "tag", summary: "Tag a build (then regenerate the repo)" },
    },
    async (request) => {
      await setTagged(ctx, caller(request), request.params.name, request.body.build, true);
      return { repoTask: request.body.regen === false ? null : await submitNewRepo(ctx, caller(request), request.params.name) };
    },
  );
  app.delete<{ Params: { name: string }; Querystring: { build: string; regen?: boolean } }>(
    "/api/v1/tags/:name/builds",
    {
      config: { perm: "tag", summary: "Untag a build (then regenerate the repo)" },
    },
    async (request) => {
      await setTagged(ctx, caller(request), request.params.name, request.query.build, false);
      return { repoTask: request.query.regen === false ? null : await submitNewRepo(ctx, caller(request), request.params.name) };
    },
  );
  app.get<{ Params: { name: string } }>(
    "/api/v1/tags/:name/rebuilds",
    {
      config: { summary: "A tag's automatic rebuilds: what each landed build caused and where each rebuild is" },
    },
    async (request) => listRebuilds(ctx, request.params.name),
  );
  app.get<{ Params: { name: string }; Querystring: { build?: string } }>(
    "/api/v1/tags/:name/rebuilds/plan",
    {
      config: {
        summary: "Dry run: the automatic rebuilds a build (default: the one tagged last) landing in the tag would queue, in order",
      },
    },
    async (request) =>
      dryRunRebuilds(
        ctx,
        request.params.name,
        request.query.build === undefined ? undefined : (await findBuild(ctx.db, request.query.build)).id,
      ),
  );
  app.post<{ Params: { name: string } }>(
    "/api/v1/tags/:name/regen",
    { config: { perm: "repo", summary: "Regenerate a tag's APT repository (newRepo task)" } },
    async (request, reply) => reply.status(202).send({ task: await submitNewRepo(ctx, caller(request), request.params.name) }),
  );
};
