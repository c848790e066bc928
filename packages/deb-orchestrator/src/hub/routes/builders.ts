import type { FastifyPluginAsync } from "fastify";
import type { TaskResult } from "../../api/tasks.js";
import { orchestratorError } from "../../errors.js";
import type { HubContext } from "../context.js";
import { type CheckinRequest, checkin, checkout, hostForPrincipal, hostIdentity, listHosts, setHostEnabled } from "../hosts.js";
import { caller } from "../http/auth-hooks.js";
import { appendTaskLog } from "../task-log.js";
import { guardDelivery } from "../tasks/claim-delivery.js";
import { completeTask, failTask, releaseTask, startTask } from "../tasks/reports.js";
import { claim, heartbeat, ownedTask } from "../tasks/scheduler.js";

/** Builder hosts and the builder protocol: check in, claim, heartbeat, report, check out. */
export const builderRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.get("/api/v1/hosts", { config: { summary: "List builder hosts" } }, async () => listHosts(ctx.db));
  for (const [verb, enabled] of [
    ["enable", true],
    ["disable", false],
  ] as const)
    app.post<{ Params: { name: string } }>(
      `/api/v1/hosts/:name/${verb}`,
      { config: { perm: "admin", summary: `${verb} a builder host` } },
      async (request) => {
        await setHostEnabled(ctx, caller(request), request.params.name, enabled);
        return { ok: true };
      },
    );
  app.post<{ Params: { name: string }; Body: CheckinRequest }>(
    "/api/v1/hosts/:name/checkin",
    {
      config: { perm: "host", summary: "A builder starts (a new session frees its orphaned tasks)" },
    },
    async (request) => {
      const { host, freed } = await checkin(ctx, caller(request), request.params.name, request.body);
      return { host: host.name, enabled: host.enabled === 1, freed, leaseMs: ctx.leaseMs, heartbeatMs: ctx.heartbeatMs };
    },
  );
  app.post<{ Params: { name: string }; Body: { session: string; waitMs?: number; start?: boolean } }>(
    "/api/v1/hosts/:name/claim",
    {
      config: { perm: "host", summary: "Long-poll for a task (answers as soon as one is free); start=true also marks it open" },
    },
    async (request, reply) => {
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
    },
  );
  app.post<{ Params: { name: string }; Body: { session: string; tasks?: number[] } }>(
    "/api/v1/hosts/:name/checkout",
    {
      config: {
        perm: "host",
        summary: "A stopping builder gives back every task of its session it does not list (freed at once, not counted)",
      },
    },
    async (request) => ({
      freed: await checkout(
        ctx,
        await hostForPrincipal(ctx, caller(request), request.params.name),
        request.body.session,
        request.body.tasks ?? [],
      ),
    }),
  );
  app.post<{ Params: { name: string }; Body: { session: string; load?: number; tasks?: number[] } }>(
    "/api/v1/hosts/:name/heartbeat",
    {
      config: { perm: "host", summary: "Renew the leases of the session's tasks" },
    },
    async (request) => heartbeat(ctx, await hostForPrincipal(ctx, caller(request), request.params.name), request.body),
  );
  app.post<{ Params: { name: string; id: number }; Body: { session: string } }>(
    "/api/v1/hosts/:name/tasks/:id/start",
    {
      config: { perm: "host", summary: "The builder starts a claimed task" },
    },
    async (request) => {
      const host = await hostIdentity(ctx, caller(request), request.params.name);
      const task = await startTask(ctx, host, request.params.id, request.body.session);
      return { id: task.id, state: task.state };
    },
  );
  app.post<{ Params: { name: string; id: number }; Body: { session: string; result?: TaskResult; claimNext?: boolean } }>(
    "/api/v1/hosts/:name/tasks/:id/complete",
    {
      config: {
        perm: "host",
        summary:
          "The builder reports success with its result files; claimNext=true also claims and starts its next task in the same transaction (answered as `next`)",
      },
    },
    async (request, reply) => {
      const host = await hostIdentity(ctx, caller(request), request.params.name);
      const delivery = guardDelivery(ctx, reply, host, request.body.session);
      const next = await completeTask(ctx, host, request.params.id, request.body.session, request.body.result ?? {}, {
        claimNext: request.body.claimNext === true,
      });
      return request.body.claimNext === true ? { ok: true, next: delivery.hand(next) } : { ok: true };
    },
  );
  app.post<{
    Params: { name: string; id: number };
    Body: { session: string; error: { code: string; message: string }; result?: TaskResult };
  }>(
    "/api/v1/hosts/:name/tasks/:id/fail",
    {
      config: { perm: "host", summary: "The builder reports failure" },
    },
    async (request) => {
      const host = await hostIdentity(ctx, caller(request), request.params.name);
      return failTask(ctx, host, request.params.id, request.body.session, request.body.error, request.body.result ?? {});
    },
  );
  app.post<{ Params: { name: string; id: number }; Body: { session: string } }>(
    "/api/v1/hosts/:name/tasks/:id/release",
    {
      config: { perm: "host", summary: "The builder gives a task back unfinished (shutdown)" },
    },
    async (request) => {
      await releaseTask(ctx, await hostIdentity(ctx, caller(request), request.params.name), request.params.id, request.body.session);
      return { ok: true };
    },
  );
  app.post<{ Params: { name: string; id: number; log: string }; Querystring: { session: string } }>(
    "/api/v1/hosts/:name/tasks/:id/logs/:log",
    {
      config: { perm: "host", summary: "Append to a task's live log (text/plain body)" },
    },
    async (request) => {
      const host = await hostIdentity(ctx, caller(request), request.params.name);
      await ownedTask(ctx, host, request.params.id, request.query.session);
      const body = typeof request.body === "string" ? request.body : Buffer.isBuffer(request.body) ? request.body : undefined;
      if (body === undefined) throw orchestratorError("REQUEST_INVALID", "log chunks are sent as text/plain");
      await appendTaskLog(ctx, request.params.id, request.params.log, body);
      return { ok: true };
    },
  );
};
