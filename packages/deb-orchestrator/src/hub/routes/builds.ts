import type { FastifyPluginAsync } from "fastify";
import type { BuildRequest } from "../../api/tasks.js";
import { deleteBuild } from "../build-delete.js";
import { describeBuild, listBuilds } from "../catalog/builds.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";
import { arr, int, name, obj, sha, str } from "../http/schema.js";
import { whyBuild } from "../queries.js";
import { submitBuild } from "../tasks/methods/build.js";

const fileRef = obj({ name: str(255), sha256: sha, size: int(0, Number.MAX_SAFE_INTEGER) }, ["name", "sha256", "size"]);

/** Builds: submitted, listed, described, explained, deleted. */
export const buildRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.post<{ Body: BuildRequest }>(
    "/api/v1/builds",
    {
      config: { perm: "build", summary: "Submit a build of an uploaded source package" },
      schema: {
        body: obj(
          {
            target: name,
            dsc: str(255),
            files: arr(fileRef, 64),
            scratch: { type: "boolean" },
            arches: arr(str(32), 32),
            priority: int(0, 1000),
            binnmu: obj({ number: int(1, 9999), reason: str(500), date: int(0, Number.MAX_SAFE_INTEGER) }, ["number", "reason"]),
          },
          ["target", "dsc", "files"],
        ),
      },
    },
    async (request, reply) => reply.status(202).send({ task: await submitBuild(ctx, caller(request), request.body) }),
  );
  app.get<{ Querystring: { name?: string; state?: string; limit?: number } }>(
    "/api/v1/builds",
    {
      config: { summary: "List builds" },
      schema: {
        querystring: obj({
          name: str(128),
          state: { type: "string", enum: ["building", "complete", "failed", "canceled", "deleted"] },
          limit: int(1, 1000),
        }),
      },
    },
    async (request) => listBuilds(ctx.db, request.query),
  );
  const buildRef = obj({ ref: str(300) }, ["ref"]);
  app.get<{ Params: { ref: string } }>(
    "/api/v1/builds/:ref",
    { config: { summary: "One build: id or NAME/VERSION (URL-encoded)" }, schema: { params: buildRef } },
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
      schema: { params: buildRef, querystring: obj({ artifacts: { type: "string", enum: ["keep", "remove"] } }) },
    },
    async (request) => deleteBuild(ctx, caller(request), request.params.ref, { removeArtifacts: request.query.artifacts === "remove" }),
  );
  app.get<{ Params: { ref: string } }>(
    "/api/v1/builds/:ref/why",
    { config: { summary: "Why a build waits or failed" }, schema: { params: buildRef } },
    async (request) => whyBuild(ctx, request.params.ref),
  );
};
