import type { FastifyPluginAsync } from "fastify";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";
import { createWebhook, deleteWebhook, listWebhooks } from "../webhooks.js";

/** Webhooks: the event log pushed to other services, signed. */
export const webhookRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.get("/api/v1/webhooks", { config: { perm: "admin", summary: "List webhooks (without their secrets)" } }, async () =>
    listWebhooks(ctx),
  );
  app.post<{ Body: { url: string; secret: string; kinds?: string[]; allowLocal?: boolean } }>(
    "/api/v1/webhooks",
    {
      config: {
        perm: "admin",
        summary:
          "Add a webhook: events from now on, in order, signed with HMAC-SHA256 of the secret, retried until a 2xx; allowLocal admits loopback, link-local and the hub's own addresses",
      },
    },
    async (request, reply) => reply.status(201).send({ id: await createWebhook(ctx, caller(request), request.body) }),
  );
  app.delete<{ Params: { id: number } }>(
    "/api/v1/webhooks/:id",
    { config: { perm: "admin", summary: "Remove a webhook" } },
    async (request) => {
      await deleteWebhook(ctx, caller(request), request.params.id);
      return { ok: true };
    },
  );
};
