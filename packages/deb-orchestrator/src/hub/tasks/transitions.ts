import type { Selectable, Transaction } from "kysely";
import { activeStates, builderMethods, methodsFor, type TaskMethod, terminalStates } from "../../api/tasks.js";
import type { Database, TasksTable } from "../../db/schema.js";
import type { HubContext } from "../context.js";
import { type EventInput, recordEvent, recordEvents } from "../events.js";
import { publicTaskError } from "../host-paths.js";

/*
 * The task state machine: every change of a task's state goes through one of these, inside the caller's
 * transaction, as a compare-and-set on the state it leaves, and appends its event. The states are
 * api/tasks.ts's: free -> assigned -> open -> closed | failed | canceled; free again when its builder
 * lets go of it (lease lapsed, restart, release, environment failure). A builder task whose
 * build-dependencies cannot be satisfied yet starts in dep-wait instead of free, and is released to free
 * when they can (or canceled); it never holds a builder.
 */

export type TaskRow = Selectable<TasksTable>;
type Trx = Transaction<Database>;

/** The builder session that holds a task: a transition it asks for only applies while it still does. */
export interface Holder {
  hostId: number;
  hostName: string;
  session: string;
}

export interface NewTask {
  parentId: number | null;
  label: string | null;
  method: TaskMethod;
  arch: string | null;
  priority: number;
  ownerId: number;
  request: unknown;
  buildId?: number | null;
  tagId?: number | null;
  /** Given for a builder task: it starts in dep-wait with this record of its check (tasks/dep-wait.ts). */
  depWait?: { unsatisfied: readonly { line: string }[] };
}

/**
 * A new task: free for a builder to claim (or held in dep-wait), or open at once when the hub runs it. A
 * child is unique per parent and label: inserting it twice returns undefined the second time.
 */
export async function insert(trx: Trx, ctx: HubContext, task: NewTask): Promise<number | undefined> {
  const now = ctx.now();
  const forBuilder = (builderMethods as readonly string[]).includes(task.method);
  const state = !forBuilder ? "open" : task.depWait ? "dep-wait" : "free";
  const row = await trx
    .insertInto("tasks")
    .values({
      parent_id: task.parentId,
      label: task.label,
      method: task.method,
      arch: task.arch,
      state,
      priority: task.priority,
      weight: 1,
      attempts: 0,
      owner_id: task.ownerId,
      request: JSON.stringify(task.request),
      build_id: task.buildId ?? null,
      tag_id: task.tagId ?? null,
      dep_wait: forBuilder && task.depWait ? JSON.stringify(task.depWait) : null,
      created_at: now,
      started_at: state === "open" ? now : null,
    })
    .onConflict((oc) => oc.columns(["parent_id", "label"]).doNothing())
    .returning("id")
    .executeTakeFirst();
  if (row)
    await recordEvent(
      trx,
      {
        userId: task.ownerId,
        kind: "task.created",
        objectType: "task",
        objectId: row.id,
        data: {
          method: task.method,
          state,
          parent: task.parentId,
          label: task.label,
          arch: task.arch,
          ...(state === "dep-wait" ? { unsatisfied: task.depWait?.unsatisfied.map((u) => u.line) } : {}),
        },
      },
      now,
    );
  return row?.id;
}

/**
 * The best free task a host can run within its spare capacity, taken for one session. The host row is
 * locked (not its user's: one user often owns many builders), its user must be enabled; the task is
 * picked and taken in one statement (compare-and-set on its state). The load is read inside it: on
 * PostgreSQL each statement sees what was committed before it began, which is after the host row's lock
 * was granted, so concurrent claims of one host never both count the capacity as free.
 */
export async function claim(
  trx: Trx,
  ctx: HubContext,
  hostId: number,
  session: string,
  start = false,
  /** Given: the claim's events are added here for the caller to write with its own (one insert). */
  events?: EventInput[],
): Promise<TaskRow | undefined> {
  const now = ctx.now();
  let hostQuery = trx
    .selectFrom("hosts")
    .innerJoin("users", "users.id", "hosts.user_id")
    .selectAll("hosts")
    .select("users.disabled as user_disabled")
    .where("hosts.id", "=", hostId);
  if (ctx.dialect === "postgres") hostQuery = hostQuery.forUpdate("hosts");
  const host = await hostQuery.executeTakeFirst();
  if (!host?.enabled || host.user_disabled || host.session !== session) return undefined;
  let pick = trx
    .selectFrom("tasks")
    .select("id")
    .where("state", "=", "free")
    .where("method", "in", methodsFor(host.capabilities.split(" ")))
    .where("arch", "in", host.arches.split(" "))
    .where((eb) => eb("weight", "<=", eb(eb.val(host.capacity), "-", heldWeight(trx, hostId))))
    .orderBy("priority")
    .orderBy("id")
    .limit(1);
  if (ctx.dialect === "postgres") pick = pick.forUpdate().skipLocked();
  // a builder that starts what it claims at once (all of ours) saves the separate start report
  const state = start ? "open" : "assigned";
  const task = await trx
    .updateTable("tasks")
    .set({ state, host_id: hostId, session, lease_expires: now + ctx.leaseMs, ...(start ? { started_at: now } : {}) })
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

/** A host's load: the weights of the tasks it holds (what a claim compares with its capacity). */
export function heldWeight(db: Trx | HubContext["db"], hostId: number) {
  return db
    .selectFrom("tasks as held")
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>("held.weight"), eb.lit(0)).as("load"))
    .where("held.host_id", "=", hostId)
    .where("held.state", "in", [...activeStates]);
}

/** A claimed task begins to run on its builder. */
export async function start(trx: Trx, ctx: HubContext, taskId: number, holder: Holder, userId: number): Promise<void> {
  const now = ctx.now();
  await trx
    .updateTable("tasks")
    .set({ state: "open", started_at: now, lease_expires: now + ctx.leaseMs })
    .where("id", "=", taskId)
    .where("session", "=", holder.session)
    .execute();
  await recordEvent(
    trx,
    { userId, kind: "task.state", objectType: "task", objectId: taskId, data: { state: "open", host: holder.hostName } },
    now,
  );
}

/**
 * A task leaves its builder and is free to be claimed again. `counted` adds the free to its attempts (the
 * builder vanished or its environment failed; not when it gave the task back itself); `session` frees it
 * only while that session holds it. Returns whether it was freed.
 */
export async function free(
  trx: Trx,
  ctx: HubContext,
  taskId: number,
  how: { reason: string; userId: number | null; counted: boolean; session?: string; data?: Record<string, unknown> },
): Promise<boolean> {
  let update = trx
    .updateTable("tasks")
    .set((eb) => ({
      state: "free",
      host_id: null,
      session: null,
      lease_expires: null,
      ...(how.counted ? { attempts: eb("attempts", "+", 1) } : {}),
    }))
    .where("id", "=", taskId)
    .where("state", "in", [...activeStates]);
  if (how.session !== undefined) update = update.where("session", "=", how.session);
  const res = await update.executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await recordEvent(
    trx,
    {
      userId: how.userId,
      kind: "task.freed",
      objectType: "task",
      objectId: taskId,
      data: { state: "free", reason: how.reason, ...how.data },
    },
    ctx.now(),
  );
  return true;
}

/**
 * A dep-wait task's build-dependencies can be satisfied now: it becomes free for a builder, with its
 * request as it must run now (compare-and-set on dep-wait; returns whether it was released).
 */
export async function releaseDepWait(trx: Trx, ctx: HubContext, taskId: number, request: unknown): Promise<boolean> {
  const res = await trx
    .updateTable("tasks")
    .set({ state: "free", dep_wait: null, request: JSON.stringify(request) })
    .where("id", "=", taskId)
    .where("state", "=", "dep-wait")
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await recordEvent(
    trx,
    { userId: null, kind: "task.state", objectType: "task", objectId: taskId, data: { state: "free", reason: "dependencies-satisfiable" } },
    ctx.now(),
  );
  return true;
}

/** A dep-wait task checked again and still unsatisfiable: its record now says what is missing (no event). */
export async function recordDepWait(trx: Trx, taskId: number, depWait: NonNullable<NewTask["depWait"]>): Promise<void> {
  await trx
    .updateTable("tasks")
    .set({ dep_wait: JSON.stringify(depWait) })
    .where("id", "=", taskId)
    .where("state", "=", "dep-wait")
    .execute();
}

/** Free several tasks; returns those that were (for waking builders of their arches). */
export async function freeAll<T extends { id: number }>(
  trx: Trx,
  ctx: HubContext,
  tasks: readonly T[],
  how: Parameters<typeof free>[3],
): Promise<T[]> {
  const freed: T[] = [];
  for (const task of tasks) if (await free(trx, ctx, task.id, how)) freed.push(task);
  return freed;
}

interface Ending {
  userId: number | null;
  error?: { code: string; message: string };
  result?: unknown;
  /** Given: only while this builder session holds the task, and its event names the host. */
  holder?: Holder;
  /** Given: the event is added here for the caller to write with its own. */
  events?: EventInput[];
}

/** A task ends: closed, failed or canceled, once (a compare-and-set). Returns the ended task, or undefined. */
export async function end(
  trx: Trx,
  ctx: HubContext,
  taskId: number,
  state: (typeof terminalStates)[number],
  how: Ending,
): Promise<TaskRow | undefined> {
  const now = ctx.now();
  const error = how.error && publicTaskError(how.error, ctx.dataDir);
  let update = trx
    .updateTable("tasks")
    .set({
      state,
      completed_at: now,
      lease_expires: null,
      ...(error ? { error_code: error.code.slice(0, 64), error_message: error.message.slice(0, 8000) } : {}),
      ...(how.result !== undefined ? { result: JSON.stringify(how.result) } : {}),
    })
    .where("id", "=", taskId);
  update = how.holder
    ? update
        .where("host_id", "=", how.holder.hostId)
        .where("session", "=", how.holder.session)
        .where("state", "in", [...activeStates])
    : update.where("state", "not in", [...terminalStates]);
  const task = await update.returningAll().executeTakeFirst();
  if (!task) return undefined;
  const event = {
    userId: how.userId,
    kind: "task.state",
    objectType: "task",
    objectId: taskId,
    data: { state, ...(how.holder ? { host: how.holder.hostName } : {}), ...(error ? { error } : {}) },
  };
  if (how.events) how.events.push(event);
  else await recordEvent(trx, event, now);
  return task;
}

export const close = (trx: Trx, ctx: HubContext, taskId: number, how: Ending) => end(trx, ctx, taskId, "closed", how);
export const fail = (trx: Trx, ctx: HubContext, taskId: number, how: Ending) => end(trx, ctx, taskId, "failed", how);
export const cancel = (trx: Trx, ctx: HubContext, taskId: number, how: Ending) => end(trx, ctx, taskId, "canceled", how);
