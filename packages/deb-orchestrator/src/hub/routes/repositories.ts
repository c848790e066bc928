import type { FastifyPluginAsync } from "fastify";
import { orchestratorError } from "../../errors.js";
import type { HubContext } from "../context.js";
import { serveRepoFile } from "../repositories.js";

/** The tags' APT repositories and their signing key, served read-only. */
export const repositoryRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.get("/repos/key.asc", { config: { summary: "The OpenPGP key tag repositories are signed with" } }, async (_request, reply) => {
    if (!ctx.repoPublicKey) throw orchestratorError("NOT_FOUND", "this hub does not sign its repositories");
    return reply.header("content-type", "application/pgp-keys").send(ctx.repoPublicKey);
  });
  app.get<{ Params: { "*": string } }>(
    "/repos/*",
    { config: { summary: "Tag repositories: /repos/TAG/latest/... and /repos/TAG/N/..." } },
    async (request, reply) => serveRepoFile(ctx, request.params["*"], reply),
  );
};
