import type { Readable } from "node:stream";
import type { FastifyPluginAsync } from "fastify";
import { orchestratorError } from "../../errors.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";
import { type ContractHandler, contractRoutes } from "../http/contract-route.js";
import { asDownload } from "../http/security.js";
import { checkUploadQuota, recordUpload } from "../uploads.js";

/** The artifact store: uploads checked against their sha256 and size, downloads by sha256. */
export const artifactRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  const route = contractRoutes(app);
  route<{ Params: { sha256: string }; Querystring: { size: number } }>("uploadArtifact", async (request, reply) => {
    if (!caller(request).perms.has("build") && !caller(request).perms.has("host") && !caller(request).perms.has("admin"))
      throw orchestratorError("PERMISSION_DENIED", "uploads need the build or host permission");
    const body = request.body as Readable | undefined;
    if (!body || typeof (body as Readable).pipe !== "function")
      throw orchestratorError("REQUEST_INVALID", "upload with content-type application/octet-stream");
    await checkUploadQuota(ctx, caller(request), request.query.size);
    const stored = await ctx.store.put(body, { sha256: request.params.sha256, size: request.query.size });
    await recordUpload(ctx, caller(request), stored.sha256, stored.size);
    return reply.status(stored.created ? 201 : 200).send(stored);
  });
  const download: ContractHandler<{ Params: { sha256: string } }> = async (request, reply) => {
    const size = await ctx.store.size(request.params.sha256);
    if (size === undefined) throw orchestratorError("ARTIFACT_MISSING", `no artifact ${request.params.sha256}`);
    // no file name: the web UI's links name the file with their download attribute
    asDownload(reply, "attachment");
    reply.header("content-type", "application/octet-stream").header("content-length", size);
    if (request.method === "HEAD") return reply.send();
    return reply.send(ctx.store.open(request.params.sha256));
  };
  // the HEAD route first: Fastify adds its own HEAD twin to a GET route unless one exists
  route("artifactSize", download);
  route("downloadArtifact", download);
};
