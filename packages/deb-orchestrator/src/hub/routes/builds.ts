import type { FastifyPluginAsync } from "fastify";
import type { BuildRequest } from "../../api/tasks.js";
import { deleteBuild } from "../build-delete.js";
import { describeBuild, listBuilds } from "../catalog/builds.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";
import { whyBuild } from "../queries.js";
import { submitBuild } from "../tasks/methods/build.js";

/** Builds: submitted, listed, described, explained, deleted. */
export const buildRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.post<{ Body: BuildRequest }>(
    "/api/v1/builds",
    {
      config: { perm: "build", summary: "Submit a build of an uploaded source package" },
    },
    async (request, reply) => reply.status(202).send({ task: await submitBuild(ctx, caller(request), request.body) }),
  );
  app.get<{ Querystring: { name?: string; state?: string; limit?: number } }>(
    "/api/v1/builds",
    {
      config: { summary: "List builds" },
    },
    async (request) => listBuilds(ctx.db, request.query),
  );
  app.get<{ Params: { ref: string } }>(
    "/api/v1/builds/:ref",
    { config: { summary: "One build: id or NAME/VERSION (URL-encoded)" } },
    async (request) => describeBuild(ctx.db, request.params.ref),
  );
  app.delete<{ Params: { ref: string }; Querystring: { artifacts?: "keep" | "remove" } }>(
    "/api/v1/builds/:ref",
    {
      config: {
        perm: "admin",
        summary:
          "Delete a build: state deleted, untagged everywhere, repositories regenerated; artifacts=remove also removes the files only it refers to",
      },
    },
    async (request) => deleteBuild(ctx, caller(request), request.params.ref, { removeArtifacts: request.query.artifacts === "remove" }),
  );
  app.get<{ Params: { ref: string } }>("/api/v1/builds/:ref/why", { config: { summary: "Why a build waits or failed" } }, async (request) =>
    whyBuild(ctx, request.params.ref),
  );
};
