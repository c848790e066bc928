import type { Transaction } from "kysely";
import { activeStates, builderMethods, capabilityOf } from "../../api/tasks.js";
import type { Database } from "../../db/schema.js";
import { orchestratorError } from "../../errors.js";
import type { HubContext } from "../context.js";
import type { HostIdentity, HostRow } from "../hosts.js";
import type { TaskRow } from "./transitions.js";
import * as transition from "./transitions.js";

/*
 * Handing builder tasks out: claims (long-polled), leases renewed by heartbeats, and leases that lapse
 * (the builder vanished) freeing their tasks. The builders' reports on their tasks are in reports.ts.
 */

export function wakeFor(ctx: HubContext, tasks: readonly { arch: string | null; method: string }[]): void {
  for (const task of tasks) ctx.dispatcher.wake(task.arch, capabilityOf(task.method));
}

/** One attempt: in a transaction, take the best free task this host can run within its spare capacity. */
export async function claimOnce(ctx: HubContext, hostId: number, session: string, start = false): Promise<TaskRow | undefined> {
  const claimed = await ctx.db.transaction().execute((trx) => transition.claim(trx, ctx, hostId, session, start));
  if (claimed) ctx.bus.ping();
  return claimed;
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
  const capabilities = new Set(host.capabilities.split(" "));
  for (;;) {
    if (signal?.aborted) return undefined;
    const seen = ctx.dispatcher.current;
    const task = await claimOnce(ctx, host.id, session, start);
    if (task) return task;
    const left = deadline - Date.now();
    if (left <= 0 || signal?.aborted) return undefined;
    // the one-second cap is the safety net for wakes that happen in another hub process
    await ctx.dispatcher.wait(host.id, arches, capabilities, seen, Math.min(left, 1000), signal);
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
    .select(["id", "arch", "method"])
    .where("state", "in", [...activeStates])
    .where("method", "in", [...builderMethods])
    .where("lease_expires", "<", now)
    .execute();
  if (expired.length === 0) return [];
  const freed = await ctx.db
    .transaction()
    .execute((trx) => transition.freeAll(trx, ctx, expired, { reason: "lease-lapsed", userId: null, counted: true }));
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
