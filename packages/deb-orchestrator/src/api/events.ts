/** The append-only event log, read as a list or followed as server-sent events, and the webhooks fed from it. */
import { z } from "zod";
import { created, idParams, ok, operations, rowId, time } from "./operation.js";

export const hubEvent = z.object({
  id: rowId,
  time,
  userId: rowId.nullable(),
  kind: z.string(),
  objectType: z.string(),
  objectId: z.number().int().nullable(),
  data: z.record(z.string(), z.unknown()),
});
export type HubEvent = z.infer<typeof hubEvent>;

export const webhookView = z.object({
  id: rowId,
  url: z.string(),
  kinds: z.array(z.string()),
  /** The last event delivered. */
  cursor: z.number().int(),
  failures: z.number().int(),
  lastError: z.string().nullable(),
  enabled: z.boolean(),
  allowLocal: z.boolean(),
});
export type WebhookView = z.infer<typeof webhookView>;

const eventFilter = {
  after: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
  type: z.string().min(1).max(32).optional(),
  object: rowId.optional(),
};

export const eventOperations = operations({
  listEvents: {
    method: "GET",
    path: "/api/v1/events",
    summary: "The event log (append-only), oldest first",
    query: z.object({ ...eventFilter, limit: z.number().int().min(1).max(10000).optional() }),
    response: z.array(hubEvent),
  },
  streamEvents: {
    method: "GET",
    path: "/api/v1/events/stream",
    summary: "Server-sent events: the event log as it grows",
    query: z.object(eventFilter),
    produces: "text/event-stream",
  },
});

export const webhookOperations = operations({
  listWebhooks: {
    method: "GET",
    path: "/api/v1/webhooks",
    permission: "admin",
    summary: "List webhooks (without their secrets)",
    response: z.array(webhookView),
  },
  createWebhook: {
    method: "POST",
    path: "/api/v1/webhooks",
    permission: "admin",
    summary:
      "Add a webhook: events from now on, in order, signed with HMAC-SHA256 of the secret, retried until a 2xx; allowLocal admits loopback, link-local and the hub's own addresses",
    body: z.object({
      url: z.string().min(1).max(500),
      secret: z.string().min(16).max(200),
      kinds: z.array(z.string().min(1).max(40)).max(20).optional(),
      allowLocal: z.boolean().optional(),
    }),
    status: 201,
    response: created,
  },
  deleteWebhook: {
    method: "DELETE",
    path: "/api/v1/webhooks/:id",
    permission: "admin",
    summary: "Remove a webhook",
    params: idParams,
    response: ok,
  },
});
