import type { FastifyPluginAsync } from "fastify";
import type { TaskResult } from "../../api/tasks.js";
import { orchestratorError } from "../../errors.js";
import type { HubContext } from "../context.js";
import { type CheckinRequest, checkin, checkout, hostForPrincipal, hostIdentity, listHosts, setHostEnabled } from "../hosts.js";
import { caller } from "../http/auth-hooks.js";
import { arr, int, name, nameParams, obj, sha, str } from "../http/schema.js";
import { appendTaskLog } from "../task-log.js";
import { guardDelivery } from "../tasks/claim-delivery.js";
import { completeTask, failTask, releaseTask, startTask } from "../tasks/reports.js";
import { claim, heartbeat, ownedTask } from "../tasks/scheduler.js";

const resultFile = obj(
  {
    name: str(255),
    sha256: sha,
    size: int(0, Number.MAX_SAFE_INTEGER),
    kind: str(32),
    package: str(128),
    version: str(256),
    arch: str(32),
  },
  ["name", "sha256", "size", "kind"],
);
const resultBody = {
  type: "object",
  properties: {
    files: arr(resultFile, 10000),
    installed: arr(obj({ name: str(128), version: str(256), arch: str(32) }, ["name", "version", "arch"]), 20000),
  },
  additionalProperties: true,
};

/** Builder hosts and the builder protocol: check in, claim, heartbeat, report, check out. */
export const builderRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.get("/api/v1/hosts", { config: { summary: "List builder hosts" } }, async () => listHosts(ctx.db));
  for (const [verb, enabled] of [
    ["enable", true],
    ["disable", false],
  ] as const)
    app.post<{ Params: { name: string } }>(
      `/api/v1/hosts/:name/${verb}`,
      { config: { perm: "admin", summary: `${verb} a builder host` }, schema: { params: nameParams } },
      async (request) => {
        await setHostEnabled(ctx, caller(request), request.params.name, enabled);
        return { ok: true };
      },
    );
  const session = str(100, { pattern: "^[A-Za-z0-9_-]+$" });
  app.post<{ Params: { name: string }; Body: CheckinRequest }>(
    "/api/v1/hosts/:name/checkin",
    {
      config: { perm: "host", summary: "A builder starts (a new session frees its orphaned tasks)" },
      schema: {
        params: nameParams,
        body: obj({ session, arches: { ...arr(str(32), 16), minItems: 1 }, capacity: int(1, 1000), load: int(0, 100000) }, [
          "session",
          "arches",
          "capacity",
        ]),
      },
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
      schema: { params: nameParams, body: obj({ session, waitMs: int(0, 60_000), start: { type: "boolean" } }, ["session"]) },
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
      schema: { params: nameParams, body: obj({ session, tasks: arr(int(1), 1000) }, ["session"]) },
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
      schema: { params: nameParams, body: obj({ session, load: int(0, 100000), tasks: arr(int(1), 1000) }, ["session"]) },
    },
    async (request) => heartbeat(ctx, await hostForPrincipal(ctx, caller(request), request.params.name), request.body),
  );
  const hostTaskParams = obj({ name, id: int(1) }, ["name", "id"]);
  app.post<{ Params: { name: string; id: number }; Body: { session: string } }>(
    "/api/v1/hosts/:name/tasks/:id/start",
    {
      config: { perm: "host", summary: "The builder starts a claimed task" },
      schema: { params: hostTaskParams, body: obj({ session }, ["session"]) },
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
      schema: { params: hostTaskParams, body: obj({ session, result: resultBody, claimNext: { type: "boolean" } }, ["session"]) },
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
      schema: {
        params: hostTaskParams,
        body: obj(
          {
            session,
            error: obj({ code: str(64), message: { type: "string", maxLength: 20000 } }, ["code", "message"]),
            result: resultBody,
          },
          ["session", "error"],
        ),
      },
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
      schema: { params: hostTaskParams, body: obj({ session }, ["session"]) },
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
      schema: { params: obj({ name, id: int(1), log: str(100) }, ["name", "id", "log"]), querystring: obj({ session }, ["session"]) },
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
