import type { FastifyPluginAsync } from "fastify";
import { createExternalRepo, createTarget, listExternalRepos, listTargets } from "../catalog/targets.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";

/** Targets (build tag -> destination tag) and external repositories. */
export const targetRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.get("/api/v1/external-repos", { config: { summary: "List external repositories" } }, async () => listExternalRepos(ctx.db));
  app.post<{ Body: { name: string; url: string; suite: string; components?: string[] } }>(
    "/api/v1/external-repos",
    {
      config: { perm: "repo", summary: "Add an external repository (a Debian suite used as build input)" },
    },
    async (request, reply) => reply.status(201).send({ id: await createExternalRepo(ctx, caller(request), request.body) }),
  );
  app.get("/api/v1/targets", { config: { summary: "List targets" } }, async () => listTargets(ctx.db));
  app.post<{ Body: { name: string; buildTag: string; destTag: string } }>(
    "/api/v1/targets",
    {
      config: { perm: "tag", summary: "Create a target (build tag -> destination tag)" },
    },
    async (request, reply) => reply.status(201).send({ id: await createTarget(ctx, caller(request), request.body) }),
  );
};
