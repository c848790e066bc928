/**
 * The builder protocol: a builder checks in with a session, long-polls for tasks, renews their leases with
 * heartbeats, streams logs and reports each task's end; admins list, enable and disable hosts.
 */
import { z } from "zod";
import { count, name, nameParams, ok, operations, rowId, time } from "./operation.js";
import { builderCapabilities, taskResult, taskStates } from "./tasks.js";

const session = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9_-]+$/);
const load = z.number().int().min(0).max(100000);
const taskIds = z.array(rowId).max(1000);
const hostTaskParams = z.object({ name, id: rowId });
const sessionBody = z.object({ session });

export const hostView = z.object({
  name: z.string(),
  arches: z.array(z.string()),
  capabilities: z.array(z.string()),
  capacity: z.number().int(),
  enabled: z.boolean(),
  lastCheckin: time.nullable(),
  /** The load the builder last reported. */
  reportedLoad: z.number(),
  /** Tasks assigned to it or running on it now. */
  tasks: count,
});
export type HostView = z.infer<typeof hostView>;

/** A task handed to a builder. */
export const claimedTask = z.object({
  id: rowId,
  method: z.string(),
  arch: z.string().nullable(),
  state: z.enum(taskStates),
  request: z.unknown(),
  attempts: count,
});
export type ClaimedTask = z.infer<typeof claimedTask>;

export const checkinRequest = z.object({
  session,
  arches: z.array(z.string().min(1).max(32)).min(1).max(16),
  /** What this builder runs (default: build). */
  capabilities: z.array(z.enum(builderCapabilities)).min(1).max(builderCapabilities.length).optional(),
  capacity: z.number().int().min(1).max(1000),
  load: load.optional(),
});
export type CheckinRequest = z.infer<typeof checkinRequest>;

export const checkinAnswer = z.object({
  host: z.string(),
  enabled: z.boolean(),
  /** Tasks an earlier session of this host held, freed now. */
  freed: taskIds,
  leaseMs: z.number().int(),
  heartbeatMs: z.number().int(),
});
export type CheckinAnswer = z.infer<typeof checkinAnswer>;

export const builderOperations = operations({
  listHosts: { method: "GET", path: "/api/v1/hosts", summary: "List builder hosts", response: z.array(hostView) },
  enableHost: {
    method: "POST",
    path: "/api/v1/hosts/:name/enable",
    permission: "admin",
    summary: "enable a builder host",
    params: nameParams,
    response: ok,
  },
  disableHost: {
    method: "POST",
    path: "/api/v1/hosts/:name/disable",
    permission: "admin",
    summary: "disable a builder host",
    params: nameParams,
    response: ok,
  },
  checkin: {
    method: "POST",
    path: "/api/v1/hosts/:name/checkin",
    permission: "host",
    summary: "A builder starts (a new session frees its orphaned tasks)",
    params: nameParams,
    body: checkinRequest,
    response: checkinAnswer,
  },
  claim: {
    method: "POST",
    path: "/api/v1/hosts/:name/claim",
    permission: "host",
    summary: "Long-poll for a task (answers as soon as one is free); start=true also marks it open",
    params: nameParams,
    body: z.object({ session, waitMs: z.number().int().min(0).max(60_000).optional(), start: z.boolean().optional() }),
    response: z.object({ task: claimedTask.nullable() }),
  },
  checkout: {
    method: "POST",
    path: "/api/v1/hosts/:name/checkout",
    permission: "host",
    summary: "A stopping builder gives back every task of its session it does not list (freed at once, not counted)",
    params: nameParams,
    body: z.object({ session, tasks: taskIds.optional() }),
    response: z.object({ freed: taskIds }),
  },
  heartbeat: {
    method: "POST",
    path: "/api/v1/hosts/:name/heartbeat",
    permission: "host",
    summary: "Renew the leases of the session's tasks",
    params: nameParams,
    body: z.object({ session, load: load.optional(), tasks: taskIds.optional() }),
    /** `lost`: listed tasks this session no longer holds (freed, canceled or taken over). */
    response: z.object({ lost: taskIds, leaseMs: z.number().int() }),
  },
  startTask: {
    method: "POST",
    path: "/api/v1/hosts/:name/tasks/:id/start",
    permission: "host",
    summary: "The builder starts a claimed task",
    params: hostTaskParams,
    body: sessionBody,
    response: z.object({ id: rowId, state: z.enum(taskStates) }),
  },
  completeTask: {
    method: "POST",
    path: "/api/v1/hosts/:name/tasks/:id/complete",
    permission: "host",
    summary:
      "The builder reports success with its result files; claimNext=true also claims and starts its next task in the same transaction (answered as `next`)",
    params: hostTaskParams,
    body: z.object({ session, result: taskResult.optional(), claimNext: z.boolean().optional() }),
    response: z.object({ ok: z.literal(true), next: claimedTask.nullable().optional() }),
  },
  failTask: {
    method: "POST",
    path: "/api/v1/hosts/:name/tasks/:id/fail",
    permission: "host",
    summary: "The builder reports failure",
    params: hostTaskParams,
    body: z.object({
      session,
      error: z.object({ code: z.string().min(1).max(64), message: z.string().max(20000) }),
      result: taskResult.optional(),
    }),
    /** `retried`: the failure was the environment's and the task is queued again. */
    response: z.object({ retried: z.boolean() }),
  },
  releaseTask: {
    method: "POST",
    path: "/api/v1/hosts/:name/tasks/:id/release",
    permission: "host",
    summary: "The builder gives a task back unfinished (shutdown)",
    params: hostTaskParams,
    body: sessionBody,
    response: ok,
  },
  appendTaskLog: {
    method: "POST",
    path: "/api/v1/hosts/:name/tasks/:id/logs/:log",
    permission: "host",
    summary: "Append to a task's live log (text/plain body)",
    params: z.object({ name, id: rowId, log: z.string().min(1).max(100) }),
    query: z.object({ session }),
    bodyType: "text/plain",
    response: ok,
  },
});
