import { isCodedError } from "@debian-bootc/core";
import { capabilityOf, type TaskResult } from "../../api/tasks.js";
import { orchestratorError } from "../../errors.js";
import { checkBuildResult } from "../build-result-check.js";
import type { HubContext } from "../context.js";
import { type EventInput, recordEvents } from "../events.js";
import { publicTaskError } from "../host-paths.js";
import type { HostIdentity } from "../hosts.js";
import { checkArch, checkFileName, checkPackageName, checkSha256, checkVersion } from "../validate.js";
import { requestOf } from "./methods/registry.js";
import { ownedTask } from "./scheduler.js";
import type { TaskRow } from "./transitions.js";
import * as transition from "./transitions.js";

/* What a builder reports about a task it holds: started, completed (with its result), failed, given back. */

export async function startTask(ctx: HubContext, host: HostIdentity, taskId: number, session: string): Promise<TaskRow> {
  const task = await ownedTask(ctx, host, taskId, session);
  if (task.state === "open") return task;
  const now = ctx.now();
  await ctx.db
    .transaction()
    .execute((trx) => transition.start(trx, ctx, taskId, { hostId: host.id, hostName: host.name, session }, host.user_id));
  ctx.bus.ping();
  return { ...task, state: "open", started_at: now };
}

/**
 * A builder finished a task: record its files (and, for buildArch, the binaries and buildroot). With
 * `claimNext` the same transaction also claims (and starts) the next task for this host session, so a
 * busy builder needs one round trip per task instead of two; the claimed task, if any, is returned.
 */
export async function completeTask(
  ctx: HubContext,
  host: HostIdentity,
  taskId: number,
  session: string,
  result: TaskResult,
  options: { claimNext?: boolean } = {},
): Promise<TaskRow | undefined> {
  try {
    return await completeChecked(ctx, host, taskId, session, result, options);
  } catch (error) {
    // a result that does not belong to the source fails the task (and so the build): nothing is recorded or tagged
    if (isCodedError(error, "BUILD_RESULT_INVALID"))
      await failTask(ctx, host, taskId, session, { code: error.code, message: error.message });
    throw error;
  }
}

async function completeChecked(
  ctx: HubContext,
  host: HostIdentity,
  taskId: number,
  session: string,
  result: TaskResult,
  options: { claimNext?: boolean },
): Promise<TaskRow | undefined> {
  const files = result.files ?? [];
  // with nothing to check first (a noop), the compare-and-set below is the ownership check: one query less
  const owned = files.length || result.installed?.length ? await ownedTask(ctx, host, taskId, session) : undefined;
  for (const file of files) {
    checkFileName(file.name, "files[].name");
    checkSha256(file.sha256, "files[].sha256");
    if ((await ctx.store.size(file.sha256)) !== file.size)
      throw orchestratorError(
        "ARTIFACT_MISSING",
        `result file '${file.name}' (${file.sha256}, ${file.size} bytes) is not in the artifact store`,
      );
  }
  for (const pkg of result.installed ?? []) {
    checkPackageName(pkg.name, "installed[].name");
    checkVersion(pkg.version, "installed[].version");
    checkArch(pkg.arch, "installed[].arch");
  }
  const binaries = owned?.method === "buildArch" ? await checkBuildResult(ctx.store, requestOf("buildArch", owned), files) : [];
  const now = ctx.now();
  const holder = { hostId: host.id, hostName: host.name, session };
  const { task, next } = await ctx.db.transaction().execute(async (trx) => {
    // the closed event and the next task's claim events in one insert
    const events: EventInput[] = [];
    const task = await transition.close(trx, ctx, taskId, {
      userId: host.user_id,
      holder,
      result: { ...result, installed: undefined },
      events,
    });
    if (!task) {
      await ownedTask(trx, host, taskId, session); // throws the precise NOT_FOUND or TASK_NOT_OWNED
      throw orchestratorError("TASK_NOT_OWNED", `task ${taskId} changed state while completing`);
    }
    for (const file of files)
      await trx
        .insertInto("task_files")
        .values({ task_id: taskId, name: file.name, sha256: file.sha256, size: file.size, kind: file.kind })
        .onConflict((oc) => oc.columns(["task_id", "name"]).doNothing())
        .execute();
    if (task.method === "buildArch") {
      if (owned === undefined)
        throw orchestratorError("BUILD_RESULT_INVALID", `task ${taskId} builds a package, but its result lists no files (no .deb)`);
      const request = requestOf("buildArch", task);
      if (task.build_id !== null) {
        for (const deb of binaries) {
          await trx
            .insertInto("binaries")
            .values({
              build_id: task.build_id,
              name: deb.name,
              version: deb.version,
              arch: deb.arch,
              filename: deb.filename,
              sha256: deb.sha256,
              size: deb.size,
            })
            .onConflict((oc) => oc.columns(["build_id", "filename"]).doNothing())
            .execute();
        }
      }
      const buildroot = await trx
        .insertInto("buildroots")
        .values({ build_id: task.build_id, task_id: taskId, arch: request.arch, host_id: host.id, created_at: now })
        .onConflict((oc) => oc.column("task_id").doNothing())
        .returning("id")
        .executeTakeFirst();
      const installed = result.installed ?? [];
      if (buildroot && installed.length)
        for (let i = 0; i < installed.length; i += 200)
          await trx
            .insertInto("buildroot_packages")
            .values(
              installed.slice(i, i + 200).map((p) => ({ buildroot_id: buildroot.id, name: p.name, version: p.version, arch: p.arch })),
            )
            .execute();
    }
    const next = options.claimNext ? await transition.claim(trx, ctx, host.id, session, true, events) : undefined;
    await recordEvents(trx, events, now);
    return { task, next };
  });
  ctx.bus.ping();
  if (task.parent_id !== null) ctx.advance(task.parent_id);
  return next;
}

/** A builder reports failure. An environment failure is retried elsewhere up to maxAttempts. */
export async function failTask(
  ctx: HubContext,
  host: HostIdentity,
  taskId: number,
  session: string,
  reported: { code: string; message: string },
  result: TaskResult = {},
): Promise<{ retried: boolean }> {
  const task = await ownedTask(ctx, host, taskId, session);
  const error = publicTaskError(reported, ctx.dataDir);
  const retry = error.code === "BUILD_ENVIRONMENT_FAILED" && task.attempts + 1 < ctx.maxAttempts;
  await ctx.db.transaction().execute(async (trx) => {
    if (retry)
      await transition.free(trx, ctx, taskId, {
        reason: "environment-failure",
        userId: host.user_id,
        counted: true,
        session,
        data: { error },
      });
    else
      await transition.fail(trx, ctx, taskId, {
        userId: host.user_id,
        holder: { hostId: host.id, hostName: host.name, session },
        error,
        result,
      });
  });
  ctx.bus.ping();
  if (retry) ctx.dispatcher.wake(task.arch, capabilityOf(task.method));
  else if (task.parent_id !== null) ctx.advance(task.parent_id);
  return { retried: retry };
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
  await ctx.db.transaction().execute((trx) => transition.free(trx, ctx, taskId, { reason, userId: host.user_id, counted: false, session }));
  ctx.dispatcher.wake(task.arch, capabilityOf(task.method));
  ctx.bus.ping();
}
