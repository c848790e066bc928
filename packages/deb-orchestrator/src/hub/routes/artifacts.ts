import type { Readable } from "node:stream";
import type { FastifyPluginAsync } from "fastify";
import { orchestratorError } from "../../errors.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";
import { asDownload } from "../http/security.js";
import { checkUploadQuota, recordUpload } from "../uploads.js";

/** The artifact store: uploads checked against their sha256 and size, downloads by sha256. */
export const artifactRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.put<{ Params: { sha256: string }; Querystring: { size: number } }>(
    "/api/v1/artifacts/:sha256",
    {
      config: { perm: "any", summary: "Upload a file (application/octet-stream), checked against sha256 and size" },
    },
    async (request, reply) => {
      if (!caller(request).perms.has("build") && !caller(request).perms.has("host") && !caller(request).perms.has("admin"))
        throw orchestratorError("PERMISSION_DENIED", "uploads need the build or host permission");
      const body = request.body as Readable | undefined;
      if (!body || typeof (body as Readable).pipe !== "function")
        throw orchestratorError("REQUEST_INVALID", "upload with content-type application/octet-stream");
      await checkUploadQuota(ctx, caller(request), request.query.size);
      const stored = await ctx.store.put(body, { sha256: request.params.sha256, size: request.query.size });
      await recordUpload(ctx, caller(request), stored.sha256, stored.size);
      return reply.status(stored.created ? 201 : 200).send(stored);
    },
  );
  app.route<{ Params: { sha256: string } }>({
    method: ["GET", "HEAD"],
    url: "/api/v1/artifacts/:sha256",
    config: { summary: "Download a stored file by sha256" },
    handler: async (request, reply) => {
      const size = await ctx.store.size(request.params.sha256);
      if (size === undefined) throw orchestratorError("ARTIFACT_MISSING", `no artifact ${request.params.sha256}`);
      // no file name: the web UI's links name the file with their download attribute
      asDownload(reply, "attachment");
      reply.header("content-type", "application/octet-stream").header("content-length", size);
      if (request.method === "HEAD") return reply.send();
      return reply.send(ctx.store.open(request.params.sha256));
    },
  });
};
