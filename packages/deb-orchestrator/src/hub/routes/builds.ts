import type { FastifyPluginAsync } from "fastify";
import type { BuildRequest } from "../../api/tasks.js";
import { deleteBuild } from "../build-delete.js";
import { describeBuild, listBuilds } from "../catalog/builds.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";
import { contractRoutes } from "../http/contract-route.js";
import { whyBuild } from "../queries.js";
import { submitBuild } from "../tasks/methods/build.js";

/** Builds: submitted, listed, described, explained, deleted. */
export const buildRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  const route = contractRoutes(app);
  route<{ Body: BuildRequest }>("submitBuild", async (request, reply) =>
    reply.status(202).send({ task: await submitBuild(ctx, caller(request), request.body) }),
  );
  route<{ Querystring: { name?: string; state?: string; limit?: number } }>("listBuilds", async (request) =>
    listBuilds(ctx.db, request.query),
  );
  route<{ Params: { ref: string } }>("getBuild", async (request) => describeBuild(ctx.db, request.params.ref));
  route<{ Params: { ref: string }; Querystring: { artifacts?: "keep" | "remove" } }>("deleteBuild", async (request) =>
    deleteBuild(ctx, caller(request), request.params.ref, { removeArtifacts: request.query.artifacts === "remove" }),
  );
  route<{ Params: { ref: string } }>("whyBuild", async (request) => whyBuild(ctx, request.params.ref));
};
