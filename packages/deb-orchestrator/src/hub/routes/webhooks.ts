import type { FastifyPluginAsync } from "fastify";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";
import { contractRoutes } from "../http/contract-route.js";
import { createWebhook, deleteWebhook, listWebhooks } from "../webhooks.js";

/** Webhooks: the event log pushed to other services, signed. */
export const webhookRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  const route = contractRoutes(app);
  route("listWebhooks", async () => listWebhooks(ctx));
  route<{ Body: { url: string; secret: string; kinds?: string[]; allowLocal?: boolean } }>("createWebhook", async (request, reply) =>
    reply.status(201).send({ id: await createWebhook(ctx, caller(request), request.body) }),
  );
  route<{ Params: { id: number } }>("deleteWebhook", async (request) => {
    await deleteWebhook(ctx, caller(request), request.params.id);
    return { ok: true };
  });
};
