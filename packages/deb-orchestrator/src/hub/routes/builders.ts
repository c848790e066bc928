import type { FastifyPluginAsync } from "fastify";
import type { TaskResult } from "../../api/tasks.js";
import { orchestratorError } from "../../errors.js";
import type { HubContext } from "../context.js";
import { type CheckinRequest, checkin, checkout, hostForPrincipal, hostIdentity, listHosts, setHostEnabled } from "../hosts.js";
import { caller } from "../http/auth-hooks.js";
import { contractRoutes } from "../http/contract-route.js";
import { appendTaskLog } from "../task-log.js";
import { guardDelivery } from "../tasks/claim-delivery.js";
import { completeTask, failTask, releaseTask, startTask } from "../tasks/reports.js";
import { claim, heartbeat, ownedTask } from "../tasks/scheduler.js";

/** Builder hosts and the builder protocol: check in, claim, heartbeat, report, check out. */
export const builderRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  const route = contractRoutes(app);
  route("listHosts", async () => listHosts(ctx.db));
  for (const [id, enabled] of [
    ["enableHost", true],
    ["disableHost", false],
  ] as const)
    route<{ Params: { name: string } }>(id, async (request) => {
      await setHostEnabled(ctx, caller(request), request.params.name, enabled);
      return { ok: true };
    });
  route<{ Params: { name: string }; Body: CheckinRequest }>("checkin", async (request) => {
    const { host, freed } = await checkin(ctx, caller(request), request.params.name, request.body);
    return { host: host.name, enabled: host.enabled === 1, freed, leaseMs: ctx.leaseMs, heartbeatMs: ctx.heartbeatMs };
  });
  route<{ Params: { name: string }; Body: { session: string; waitMs?: number; start?: boolean } }>("claim", async (request, reply) => {
    const host = await hostForPrincipal(ctx, caller(request), request.params.name);
    const delivery = guardDelivery(ctx, reply, host, request.body.session);
    const pending = claim(
      ctx,
      host,
      request.body.session,
      request.body.waitMs ?? 20_000,
      AbortSignal.any([delivery.gone, ctx.closing]),
      request.body.start === true,
    );
    ctx.inflight.add(pending);
    const task = await pending.finally(() => ctx.inflight.delete(pending));
    return { task: delivery.hand(task) };
  });
  route<{ Params: { name: string }; Body: { session: string; tasks?: number[] } }>("checkout", async (request) => ({
    freed: await checkout(
      ctx,
      await hostForPrincipal(ctx, caller(request), request.params.name),
      request.body.session,
      request.body.tasks ?? [],
    ),
  }));
  route<{ Params: { name: string }; Body: { session: string; load?: number; tasks?: number[] } }>("heartbeat", async (request) =>
    heartbeat(ctx, await hostForPrincipal(ctx, caller(request), request.params.name), request.body),
  );
  route<{ Params: { name: string; id: number }; Body: { session: string } }>("startTask", async (request) => {
    const host = await hostIdentity(ctx, caller(request), request.params.name);
    const task = await startTask(ctx, host, request.params.id, request.body.session);
    return { id: task.id, state: task.state };
  });
  route<{ Params: { name: string; id: number }; Body: { session: string; result?: TaskResult; claimNext?: boolean } }>(
    "completeTask",
    async (request, reply) => {
      const host = await hostIdentity(ctx, caller(request), request.params.name);
      const delivery = guardDelivery(ctx, reply, host, request.body.session);
      const next = await completeTask(ctx, host, request.params.id, request.body.session, request.body.result ?? {}, {
        claimNext: request.body.claimNext === true,
      });
      return request.body.claimNext === true ? { ok: true, next: delivery.hand(next) } : { ok: true };
    },
  );
  route<{
    Params: { name: string; id: number };
    Body: { session: string; error: { code: string; message: string }; result?: TaskResult };
  }>("failTask", async (request) => {
    const host = await hostIdentity(ctx, caller(request), request.params.name);
    return failTask(ctx, host, request.params.id, request.body.session, request.body.error, request.body.result ?? {});
  });
  route<{ Params: { name: string; id: number }; Body: { session: string } }>("releaseTask", async (request) => {
    await releaseTask(ctx, await hostIdentity(ctx, caller(request), request.params.name), request.params.id, request.body.session);
    return { ok: true };
  });
  route<{ Params: { name: string; id: number; log: string }; Querystring: { session: string } }>("appendTaskLog", async (request) => {
    const host = await hostIdentity(ctx, caller(request), request.params.name);
    await ownedTask(ctx, host, request.params.id, request.query.session);
    const body = typeof request.body === "string" ? request.body : Buffer.isBuffer(request.body) ? request.body : undefined;
    if (body === undefined) throw orchestratorError("REQUEST_INVALID", "log chunks are sent as text/plain");
    await appendTaskLog(ctx, request.params.id, request.params.log, body);
    return { ok: true };
  });
};
