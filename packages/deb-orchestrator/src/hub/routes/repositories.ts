import type { FastifyPluginAsync } from "fastify";
import { orchestratorError } from "../../errors.js";
import type { HubContext } from "../context.js";
import { contractRoutes } from "../http/contract-route.js";
import { servePublishedFile } from "../repositories.js";

/** The tags' APT repositories with their signing key, and the published OSTree repositories, served read-only. */
export const repositoryRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  const route = contractRoutes(app);
  route("repoKey", async (_request, reply) => {
    if (!ctx.repoPublicKey) throw orchestratorError("NOT_FOUND", "this hub does not sign its repositories");
    return reply.header("content-type", "application/pgp-keys").send(ctx.repoPublicKey);
  });
  route<{ Params: { "*": string } }>("repoFile", async (request, reply) => servePublishedFile(ctx, "repos", request.params["*"], reply));
  route<{ Params: { "*": string } }>("ostreeFile", async (request, reply) => servePublishedFile(ctx, "ostree", request.params["*"], reply));
};
