import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { HubContext } from "../context.js";
import { lastEventId, listEvents } from "../events.js";
import { contractRoutes } from "../http/contract-route.js";
import { streamClient } from "../limits.js";

/** The event log, read as a list or followed as server-sent events. */
export const eventRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  const route = contractRoutes(app);
  route<{ Querystring: { after?: number; limit?: number; type?: string; object?: number } }>("listEvents", async (request) =>
    listEvents(ctx.db, { ...request.query, after: request.query.after ?? 0, limit: request.query.limit ?? 1000 }),
  );
  route<{ Querystring: { after?: number; type?: string; object?: number } }>("streamEvents", async (request, reply) =>
    streamEvents(ctx, request, reply),
  );
};

/** Server-sent events: every event after `after` (or from now), then each new one as it is appended. */
async function streamEvents(
  ctx: HubContext,
  request: FastifyRequest<{ Querystring: { after?: number; type?: string; object?: number } }>,
  reply: FastifyReply,
) {
  let last = request.query.after ?? (await lastEventId(ctx.db));
  const release = ctx.streams.acquire(streamClient(request));
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  raw.write(": deb-orchestrator events\n\n");
  let busy = false;
  let again = false;
  const flush = async () => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        const events = await listEvents(ctx.db, { ...request.query, after: last, limit: 1000 });
        for (const event of events) {
          last = event.id;
          raw.write(`id: ${event.id}\nevent: ${event.kind}\ndata: ${JSON.stringify(event)}\n\n`);
        }
        if (events.length === 1000) again = true;
      } while (again);
    } catch {
      // the next ping retries
    } finally {
      busy = false;
    }
  };
  const onChange = () => void flush();
  ctx.bus.on("changed", onChange);
  const keepAlive = setInterval(() => {
    raw.write(": keep-alive\n\n");
    void flush(); // other hub processes append too
  }, 5000);
  request.raw.on("close", () => {
    ctx.bus.off("changed", onChange);
    clearInterval(keepAlive);
    release();
  });
  await flush();
}
