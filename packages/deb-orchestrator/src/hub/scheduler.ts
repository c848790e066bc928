import type { Selectable, Transaction } from "kysely";
import { activeStates, builderMethods } from "../api/tasks.js";
import type { Database, HostsTable, TasksTable } from "../db/schema.js";
import { orchestratorError } from "../errors.js";
import type { Principal } from "./auth.js";
import type { HubContext } from "./context.js";
import { type EventInput, recordEvent, recordEvents } from "./events.js";
import { checkArch, checkName } from "./validate.js";

export type HostRow = Selectable<HostsTable>;
export type TaskRow = Selectable<TasksTable>;

export interface CheckinRequest {
  session: string;
  arches: string[];
  capacity: number;
  load?: number;
}

/**
 * A builder announces itself. The first check-in of a name creates the host (owned by the token's user);
 * a check-in with a new session means the builder restarted, so every task its previous session held is
 * freed at once instead of waiting for the lease to lapse.
 */
export async function checkin(
  ctx: HubContext,
  principal: Principal,
  name: string,
  request: CheckinRequest,
): Promise<{ host: HostRow; freed: number[] }> {
  checkName(name, "host");
  for (const arch of request.arches) checkArch(arch);
  const now = ctx.now();
  const result = await ctx.db.transaction().execute(async (trx) => {
    let host = await trx.selectFrom("hosts").selectAll().where("name", "=", name).executeTakeFirst();
    if (host && host.user_id !== principal.userId && !principal.perms.has("admin"))
      throw orchestratorError("PERMISSION_DENIED", `host '${name}' belongs to another user than '${principal.name}'`);
    const values = {
      arches: request.arches.join(" "),
      capacity: request.capacity,
      last_checkin: now,
      load: request.load ?? 0,
      session: request.session,
    };
    if (!host) {
      host = await trx
        .insertInto("hosts")
        .values({ name, user_id: principal.userId, enabled: 1, created_at: now, ...values })
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordEvent(
        trx,
        { userId: principal.userId, kind: "host.created", objectType: "host", objectId: host.id, data: { name, arches: request.arches } },
        now,
      );
    } else {
      const previous = host.session;
      await trx.updateTable("hosts").set(values).where("id", "=", host.id).execute();
      host = { ...host, ...values };
      if (previous !== request.session) {
        const orphans = await trx
          .selectFrom("tasks")
          .select(["id", "arch"])
          .where("host_id", "=", host.id)
          .where("state", "in", [...activeStates])
          .execute();
        const freed = await freeTasks(trx, ctx, orphans, "host-restarted", principal.userId);
        return { host, freed };
      }
    }
    return { host, freed: [] as { id: number; arch: string | null }[] };
  });
  wakeFor(ctx, result.freed);
  ctx.bus.ping();
  return { host: result.host, freed: result.freed.map((t) => t.id) };
}

async function freeTasks(
  trx: Transaction<Database>,
  ctx: HubContext,
  tasks: readonly { id: number; arch: string | null }[],
  reason: string,
  userId: number | null,
): Promise<{ id: number; arch: string | null }[]> {
  const freed: { id: number; arch: string | null }[] = [];
  for (const task of tasks) {
    const res = await trx
      .updateTable("tasks")
      .set((eb) => ({ state: "free", host_id: null, session: null, lease_expires: null, attempts: eb("attempts", "+", 1) }))
      .where("id", "=", task.id)
      .where("state", "in", [...activeStates])
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) {
      freed.push(task);
      await recordEvent(
        trx,
        { userId, kind: "task.freed", objectType: "task", objectId: task.id, data: { state: "free", reason } },
        ctx.now(),
      );
    }
  }
  return freed;
}

function wakeFor(ctx: HubContext, tasks: readonly { arch: string | null }[]): void {
  for (const task of tasks) ctx.dispatcher.wake(task.arch);
}

/** What never changes about a host once it exists: enough for the builder's task reports. */
export type HostIdentity = Pick<HostRow, "id" | "name" | "user_id">;

const identities = new WeakMap<HubContext, Map<string, HostIdentity>>();

/**
 * The host's identity for a report about one of its tasks (start, complete, fail, release, logs), checked
 * against the token's user like hostForPrincipal but read once per hub process: hosts are never renamed,
 * deleted or given to another user, and every report checks the task's session itself.
 */
export async function hostIdentity(ctx: HubContext, principal: Principal, name: string): Promise<HostIdentity> {
  let known = identities.get(ctx);
  if (!known) {
    known = new Map();
    identities.set(ctx, known);
  }
  let host = known.get(name);
  if (!host) {
    const row = await hostForPrincipal(ctx, principal, name);
    host = { id: row.id, name: row.name, user_id: row.user_id };
    if (known.size > 10_000) known.clear();
    known.set(name, host);
  }
  if (host.user_id !== principal.userId && !principal.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", `host '${name}' belongs to another user than '${principal.name}'`);
  return host;
}

export async function hostForPrincipal(ctx: HubContext, principal: Principal, name: string): Promise<HostRow> {
  const host = await ctx.db.selectFrom("hosts").selectAll().where("name", "=", name).executeTakeFirst();
  if (!host) throw orchestratorError("NOT_FOUND", `host '${name}' has not checked in`, { hint: "the builder must check in first" });
  if (host.user_id !== principal.userId && !principal.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", `host '${name}' belongs to another user than '${principal.name}'`);
  return host;
}

/** One attempt: in a transaction, take the best free task this host can run within its spare capacity. */
export async function claimOnce(ctx: HubContext, hostId: number, session: string, start = false): Promise<TaskRow | undefined> {
  const claimed = await ctx.db.transaction().execute((trx) => claimWithin(trx, ctx, hostId, session, start));
  if (claimed) ctx.bus.ping();
  return claimed;
}

/**
 * The claim itself, inside the caller's transaction (a claim of its own, or the completion of the
 * previous task: "complete and claim next" commits both at once). The host row is locked, its load
 * compared with its capacity, the best free task of a matching arch picked and moved with a
 * compare-and-set. The caller pings the event bus after the commit.
 */
export async function claimWithin(
  trx: Transaction<Database>,
  ctx: HubContext,
  hostId: number,
  session: string,
  start = false,
  /** Given: the claim's events are added here for the caller to write with its own (one insert). */
  events?: EventInput[],
): Promise<TaskRow | undefined> {
  const now = ctx.now();
  // the host row is locked (not its user's: one user often owns many builders), the user must be enabled
  let hostQuery = trx
    .selectFrom("hosts")
    .innerJoin("users", "users.id", "hosts.user_id")
    .selectAll("hosts")
    .select("users.disabled as user_disabled")
    .where("hosts.id", "=", hostId);
  if (ctx.dialect === "postgres") hostQuery = hostQuery.forUpdate("hosts");
  const host = await hostQuery.executeTakeFirst();
  if (!host?.enabled || host.user_disabled || host.session !== session) return undefined;
  // the best free task that fits the host's spare capacity, picked and taken in one statement
  // (compare-and-set on its state). The load is read inside it: on PostgreSQL each statement sees what was
  // committed before it began, which is after the host row's lock was granted, so concurrent claims of one
  // host never both count the capacity as free.
  const load = trx
    .selectFrom("tasks as held")
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>("held.weight"), eb.lit(0)).as("load"))
    .where("held.host_id", "=", hostId)
    .where("held.state", "in", [...activeStates]);
  let pick = trx
    .selectFrom("tasks")
    .select("id")
    .where("state", "=", "free")
    .where("method", "in", [...builderMethods])
    .where("arch", "in", host.arches.split(" "))
    .where((eb) => eb("weight", "<=", eb(eb.val(host.capacity), "-", load)))
    .orderBy("priority")
    .orderBy("id")
    .limit(1);
  if (ctx.dialect === "postgres") pick = pick.forUpdate().skipLocked();
  const lease = now + ctx.leaseMs;
  // a builder that starts what it claims at once (all of ours) saves the separate start report
  const state = start ? "open" : "assigned";
  const task = await trx
    .updateTable("tasks")
    .set({ state, host_id: hostId, session, lease_expires: lease, ...(start ? { started_at: now } : {}) })
    .where("id", "=", pick)
    .where("state", "=", "free")
    .returningAll()
    .executeTakeFirst();
  if (!task) return undefined;
  const claimed = (start ? ["assigned", "open"] : ["assigned"]).map((recorded) => ({
    userId: host.user_id,
    kind: "task.state",
    objectType: "task",
    objectId: task.id,
    data: { state: recorded, host: host.name },
  }));
  if (events) events.push(...claimed);
  else await recordEvents(trx, claimed, now);
  return task;
}

/** Long-poll claim: answer as soon as a task for this host appears, or with nothing after `waitMs`. */
export async function claim(
  ctx: HubContext,
  host: HostRow,
  session: string,
  waitMs: number,
  signal?: AbortSignal,
  start = false,
): Promise<TaskRow | undefined> {
  const deadline = Date.now() + waitMs;
  const arches = new Set(host.arches.split(" "));
  for (;;) {
    if (signal?.aborted) return undefined;
    const seen = ctx.dispatcher.current;
    const task = await claimOnce(ctx, host.id, session, start);
    if (task) return task;
    const left = deadline - Date.now();
    if (left <= 0 || signal?.aborted) return undefined;
    // the one-second cap is the safety net for wakes that happen in another hub process
    await ctx.dispatcher.wait(host.id, arches, seen, Math.min(left, 1000), signal);
  }
}

/** Renew the leases of the listed tasks this session holds; report which listed tasks it no longer holds. */
export async function heartbeat(
  ctx: HubContext,
  host: HostRow,
  request: { session: string; load?: number; tasks?: number[] },
): Promise<{ lost: number[]; leaseMs: number }> {
  const now = ctx.now();
  await ctx.db
    .updateTable("hosts")
    .set({ last_checkin: now, load: request.load ?? 0 })
    .where("id", "=", host.id)
    .execute();
  const listed = request.tasks ?? [];
  if (host.session !== request.session) return { lost: listed, leaseMs: ctx.leaseMs };
  if (listed.length === 0) return { lost: [], leaseMs: ctx.leaseMs };
  // only the tasks the builder says it runs: a claim whose answer never reached it lapses and is freed
  await ctx.db
    .updateTable("tasks")
    .set({ lease_expires: now + ctx.leaseMs })
    .where("id", "in", listed)
    .where("host_id", "=", host.id)
    .where("session", "=", request.session)
    .where("state", "in", [...activeStates])
    .execute();
  const held = await ctx.db
    .selectFrom("tasks")
    .select("id")
    .where("id", "in", listed)
    .where("host_id", "=", host.id)
    .where("session", "=", request.session)
    .where("state", "in", [...activeStates])
    .execute();
  const heldIds = new Set(held.map((t) => t.id));
  return { lost: listed.filter((id) => !heldIds.has(id)), leaseMs: ctx.leaseMs };
}

/** Free every task whose lease lapsed (the builder vanished); each free counts in the task's attempts. */
export async function reapExpiredLeases(ctx: HubContext): Promise<number[]> {
  const now = ctx.now();
  const expired = await ctx.db
    .selectFrom("tasks")
    .select(["id", "arch"])
    .where("state", "in", [...activeStates])
    .where("method", "in", [...builderMethods])
    .where("lease_expires", "<", now)
    .execute();
  if (expired.length === 0) return [];
  const freed = await ctx.db.transaction().execute((trx) => freeTasks(trx, ctx, expired, "lease-lapsed", null));
  wakeFor(ctx, freed);
  if (freed.length) {
    ctx.logger.warn({ tasks: freed.map((t) => t.id) }, "leases lapsed, tasks freed");
    ctx.bus.ping();
  }
  return freed.map((t) => t.id);
}

/** After a hub restart: give running builders one lease to find us again before their tasks are freed. */
export async function extendLeasesAfterStart(ctx: HubContext): Promise<void> {
  await ctx.db
    .updateTable("tasks")
    .set({ lease_expires: ctx.now() + ctx.leaseMs })
    .where("state", "in", [...activeStates])
    .where("method", "in", [...builderMethods])
    .execute();
}

/** Load the task and check this host session holds it; the builder's reports go through here. */
export async function ownedTask(
  ctx: HubContext | Transaction<Database>,
  host: HostIdentity,
  taskId: number,
  session: string,
): Promise<TaskRow> {
  const db = "db" in ctx ? ctx.db : ctx;
  const task = await db.selectFrom("tasks").selectAll().where("id", "=", taskId).executeTakeFirst();
  if (!task) throw orchestratorError("NOT_FOUND", `task ${taskId} does not exist`);
  if (task.host_id !== host.id || task.session !== session || !(activeStates as readonly string[]).includes(task.state))
    throw orchestratorError("TASK_NOT_OWNED", `task ${taskId} is not held by this session of host '${host.name}' (state ${task.state})`, {
      hint: "its lease lapsed or it was canceled; the builder must drop it",
    });
  return task;
}

export async function startTask(ctx: HubContext, host: HostIdentity, taskId: number, session: string): Promise<TaskRow> {
  const task = await ownedTask(ctx, host, taskId, session);
  if (task.state === "open") return task;
  const now = ctx.now();
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .updateTable("tasks")
      .set({ state: "open", started_at: now, lease_expires: now + ctx.leaseMs })
      .where("id", "=", taskId)
      .where("session", "=", session)
      .execute();
    await recordEvent(
      trx,
      { userId: host.user_id, kind: "task.state", objectType: "task", objectId: taskId, data: { state: "open", host: host.name } },
      now,
    );
  });
  ctx.bus.ping();
  return { ...task, state: "open", started_at: now };
}

/**
 * The builder gives a task back (SIGTERM before it could finish), or the hub takes back a task whose
 * claim answer could not be delivered: free at once, not counted as a failure.
 */
export async function releaseTask(
  ctx: HubContext,
  host: HostIdentity,
  taskId: number,
  session: string,
  reason: "released" | "undelivered" = "released",
): Promise<void> {
  const task = await ownedTask(ctx, host, taskId, session);
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .updateTable("tasks")
      .set({ state: "free", host_id: null, session: null, lease_expires: null })
      .where("id", "=", taskId)
      .where("session", "=", session)
      .execute();
    await recordEvent(
      trx,
      { userId: host.user_id, kind: "task.freed", objectType: "task", objectId: taskId, data: { state: "free", reason } },
      ctx.now(),
    );
  });
  ctx.dispatcher.wake(task.arch);
  ctx.bus.ping();
}

/**
 * A builder that stops checks out: every task its session holds that it does not name in `keep` (the
 * tasks still running through its grace time) is freed at once, so a claim answered while the builder
 * was stopping never waits for its lease. Not counted in the tasks' attempts. A session that is not the
 * host's current one changes nothing (a newer builder process owns the host now).
 */
export async function checkout(ctx: HubContext, host: HostRow, session: string, keep: readonly number[] = []): Promise<number[]> {
  if (host.session !== session) return [];
  const now = ctx.now();
  const freed = await ctx.db.transaction().execute(async (trx) => {
    let query = trx
      .selectFrom("tasks")
      .select(["id", "arch"])
      .where("host_id", "=", host.id)
      .where("session", "=", session)
      .where("state", "in", [...activeStates]);
    if (keep.length) query = query.where("id", "not in", [...keep]);
    const held = await query.execute();
    const done: { id: number; arch: string | null }[] = [];
    for (const task of held) {
      const res = await trx
        .updateTable("tasks")
        .set({ state: "free", host_id: null, session: null, lease_expires: null })
        .where("id", "=", task.id)
        .where("session", "=", session)
        .where("state", "in", [...activeStates])
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) continue;
      done.push(task);
      await recordEvent(
        trx,
        {
          userId: host.user_id,
          kind: "task.freed",
          objectType: "task",
          objectId: task.id,
          data: { state: "free", reason: "builder-stopped" },
        },
        now,
      );
    }
    await trx.updateTable("hosts").set({ last_checkin: now, load: keep.length }).where("id", "=", host.id).execute();
    return done;
  });
  wakeFor(ctx, freed);
  ctx.bus.ping();
  return freed.map((t) => t.id);
}

export async function setHostEnabled(ctx: HubContext, principal: Principal, name: string, enabled: boolean): Promise<void> {
  const host = await ctx.db.selectFrom("hosts").select("id").where("name", "=", name).executeTakeFirst();
  if (!host) throw orchestratorError("NOT_FOUND", `host '${name}' does not exist`);
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .updateTable("hosts")
      .set({ enabled: enabled ? 1 : 0 })
      .where("id", "=", host.id)
      .execute();
    await recordEvent(
      trx,
      { userId: principal.userId, kind: enabled ? "host.enabled" : "host.disabled", objectType: "host", objectId: host.id, data: { name } },
      ctx.now(),
    );
  });
  if (enabled) ctx.dispatcher.wakeAll();
  ctx.bus.ping();
}
