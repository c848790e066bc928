import type { FastifyPluginAsync } from "fastify";
import { createExternalRepo, createTarget, listExternalRepos, listTargets } from "../catalog/targets.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";
import { contractRoutes } from "../http/contract-route.js";

/** Targets (build tag -> destination tag) and external repositories. */
export const targetRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  const route = contractRoutes(app);
  route("listExternalRepos", async () => listExternalRepos(ctx.db));
  route<{ Body: { name: string; url: string; suite: string; components?: string[] } }>("createExternalRepo", async (request, reply) =>
    reply.status(201).send({ id: await createExternalRepo(ctx, caller(request), request.body) }),
  );
  route("listTargets", async () => listTargets(ctx.db));
  route<{ Body: { name: string; buildTag: string; destTag: string } }>("createTarget", async (request, reply) =>
    reply.status(201).send({ id: await createTarget(ctx, caller(request), request.body) }),
  );
};
