import type { FastifyPluginAsync } from "fastify";
import { orchestratorError } from "../../errors.js";
import type { HubContext } from "../context.js";
import { servePublishedFile } from "../repositories.js";

/** The tags' APT repositories with their signing key, and the published OSTree repositories, served read-only. */
export const repositoryRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.get("/repos/key.asc", { config: { summary: "The OpenPGP key tag repositories are signed with" } }, async (_request, reply) => {
    if (!ctx.repoPublicKey) throw orchestratorError("NOT_FOUND", "this hub does not sign its repositories");
    return reply.header("content-type", "application/pgp-keys").send(ctx.repoPublicKey);
  });
  app.get<{ Params: { "*": string } }>(
    "/repos/*",
    { config: { summary: "Tag repositories: /repos/TAG/latest/... and /repos/TAG/N/..." } },
    async (request, reply) => servePublishedFile(ctx, "repos", request.params["*"], reply),
  );
  app.get<{ Params: { "*": string } }>(
    "/ostree/*",
    { config: { summary: "OSTree repositories published into DATA/ostree/NAME (deb-bootc-compose publish): /ostree/NAME/summary, ..." } },
    async (request, reply) => servePublishedFile(ctx, "ostree", request.params["*"], reply),
  );
};
