import { readFile, rename, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { type CodedError, isCodedError } from "@debian-bootc/core";
import type { Transaction } from "kysely";
import {
  activeStates,
  type BuildArchRequest,
  type BuildRequest,
  type ExtraRepo,
  hubMethods,
  isTerminal,
  type TaskResult,
} from "../api/tasks.js";
import type { Database } from "../db/schema.js";
import { orchestratorError } from "../errors.js";
import type { Principal } from "./auth.js";
import { checkBuildResult, readTaskDsc } from "./build-result-check.js";
import { latestTagged, tagChain, tagExternalRepos } from "./catalog.js";
import type { HubContext } from "./context.js";
import { summarizeDsc } from "./dsc-summary.js";
import { type EventInput, recordEvent, recordEvents } from "./events.js";
import { publicTaskError } from "./host-paths.js";
import { claimWithin, type HostIdentity, ownedTask, type TaskRow } from "./scheduler.js";
import { checkArch, checkFileName, checkName, checkPackageName, checkSha256, checkVersion } from "./validate.js";

const DEFAULT_PRIORITY = 20;

async function insertTask(
  db: Transaction<Database>,
  ctx: HubContext,
  task: {
    parentId: number | null;
    label: string | null;
    method: string;
    arch: string | null;
    state: "free" | "open";
    priority: number;
    ownerId: number;
    request: unknown;
    buildId?: number | null;
    tagId?: number | null;
  },
): Promise<number | undefined> {
  const now = ctx.now();
  const row = await db
    .insertInto("tasks")
    .values({
      parent_id: task.parentId,
      label: task.label,
      method: task.method,
      arch: task.arch,
      state: task.state,
      priority: task.priority,
      weight: 1,
      attempts: 0,
      owner_id: task.ownerId,
      request: JSON.stringify(task.request),
      build_id: task.buildId ?? null,
      tag_id: task.tagId ?? null,
      created_at: now,
      started_at: task.state === "open" ? now : null,
    })
    .onConflict((oc) => oc.columns(["parent_id", "label"]).doNothing())
    .returning("id")
    .executeTakeFirst();
  if (row)
    await recordEvent(
      db,
      {
        userId: task.ownerId,
        kind: "task.created",
        objectType: "task",
        objectId: row.id,
        data: { method: task.method, state: task.state, parent: task.parentId, label: task.label, arch: task.arch },
      },
      now,
    );
  return row?.id;
}

/** Submit a build of an uploaded source package to a target: creates the top `build` task. */
export async function submitBuild(ctx: HubContext, principal: Principal, request: BuildRequest): Promise<number> {
  checkName(request.target, "target");
  checkFileName(request.dsc, "dsc");
  if (!request.dsc.endsWith(".dsc")) throw orchestratorError("SOURCE_INVALID", `dsc '${request.dsc}' does not end in .dsc`);
  const names = new Set<string>();
  for (const file of request.files) {
    checkFileName(file.name, "files[].name");
    checkSha256(file.sha256, "files[].sha256");
    if (names.has(file.name)) throw orchestratorError("SOURCE_INVALID", `file '${file.name}' is listed twice`);
    names.add(file.name);
    if (!(await ctx.store.has(file.sha256)))
      throw orchestratorError("ARTIFACT_MISSING", `file '${file.name}' (${file.sha256}) has not been uploaded`, {
        hint: "PUT it to /api/v1/artifacts/<sha256> first",
      });
  }
  if (!names.has(request.dsc)) throw orchestratorError("SOURCE_INVALID", `the .dsc '${request.dsc}' is not among the uploaded files`);
  for (const arch of request.arches ?? []) checkArch(arch);
  const target = await ctx.db.selectFrom("targets").select("id").where("name", "=", request.target).executeTakeFirst();
  if (!target)
    throw orchestratorError("NOT_FOUND", `target '${request.target}' does not exist`, { hint: "see deb-orchestrator list-targets" });
  const id = await ctx.db.transaction().execute((trx) =>
    insertTask(trx, ctx, {
      parentId: null,
      label: null,
      method: "build",
      arch: null,
      state: "open",
      priority: request.priority ?? DEFAULT_PRIORITY,
      ownerId: principal.userId,
      request,
    }),
  );
  if (id === undefined) throw new Error("task insert returned no id");
  ctx.bus.ping();
  ctx.advance(id);
  return id;
}

/** A task builders run without a build: `noop` (benchmarks, tests, checking a builder). */
export async function submitNoop(
  ctx: HubContext,
  principal: Principal,
  request: { arch: string; priority?: number; sleepMs?: number },
): Promise<number> {
  checkArch(request.arch);
  const id = await ctx.db.transaction().execute((trx) =>
    insertTask(trx, ctx, {
      parentId: null,
      label: null,
      method: "noop",
      arch: request.arch,
      state: "free",
      priority: request.priority ?? DEFAULT_PRIORITY,
      ownerId: principal.userId,
      request: { sleepMs: request.sleepMs ?? 0 },
    }),
  );
  if (id === undefined) throw new Error("task insert returned no id");
  ctx.dispatcher.wake(request.arch);
  ctx.bus.ping();
  return id;
}

export async function submitNewRepo(ctx: HubContext, principal: Principal, tag: string, parentId: number | null = null): Promise<number> {
  const row = await ctx.db.selectFrom("tags").select("id").where("name", "=", tag).executeTakeFirst();
  if (!row) throw orchestratorError("NOT_FOUND", `tag '${tag}' does not exist`);
  const id = await ctx.db.transaction().execute((trx) =>
    insertTask(trx, ctx, {
      parentId,
      label: parentId === null ? null : "newRepo",
      method: "newRepo",
      arch: null,
      state: "open",
      priority: DEFAULT_PRIORITY,
      ownerId: principal.userId,
      request: { tag },
      tagId: row.id,
    }),
  );
  if (id === undefined) throw orchestratorError("TASK_STATE", "a newRepo task exists already for this parent");
  ctx.bus.ping();
  ctx.advance(id);
  return id;
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
  const binaries =
    owned?.method === "buildArch" ? await checkBuildResult(ctx.store, JSON.parse(owned.request) as BuildArchRequest, files) : [];
  const now = ctx.now();
  const { task, next } = await ctx.db.transaction().execute(async (trx) => {
    const task = await trx
      .updateTable("tasks")
      .set({ state: "closed", completed_at: now, lease_expires: null, result: JSON.stringify({ ...result, installed: undefined }) })
      .where("id", "=", taskId)
      .where("host_id", "=", host.id)
      .where("session", "=", session)
      .where("state", "in", [...activeStates])
      .returningAll()
      .executeTakeFirst();
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
      const request = JSON.parse(task.request) as BuildArchRequest;
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
    // the closed event and the next task's claim events in one insert
    const events: EventInput[] = [
      { userId: host.user_id, kind: "task.state", objectType: "task", objectId: taskId, data: { state: "closed", host: host.name } },
    ];
    const next = options.claimNext ? await claimWithin(trx, ctx, host.id, session, true, events) : undefined;
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
  const now = ctx.now();
  const error = publicTaskError(reported, ctx.dataDir);
  const retry = error.code === "BUILD_ENVIRONMENT_FAILED" && task.attempts + 1 < ctx.maxAttempts;
  await ctx.db.transaction().execute(async (trx) => {
    if (retry)
      await trx
        .updateTable("tasks")
        .set((eb) => ({ state: "free", host_id: null, session: null, lease_expires: null, attempts: eb("attempts", "+", 1) }))
        .where("id", "=", taskId)
        .where("session", "=", session)
        .execute();
    else
      await trx
        .updateTable("tasks")
        .set({
          state: "failed",
          completed_at: now,
          lease_expires: null,
          error_code: error.code.slice(0, 64),
          error_message: error.message.slice(0, 8000),
          result: JSON.stringify(result),
        })
        .where("id", "=", taskId)
        .where("session", "=", session)
        .execute();
    await recordEvent(
      trx,
      {
        userId: host.user_id,
        kind: retry ? "task.freed" : "task.state",
        objectType: "task",
        objectId: taskId,
        data: retry ? { state: "free", reason: "environment-failure", error } : { state: "failed", host: host.name, error },
      },
      now,
    );
  });
  ctx.bus.ping();
  if (retry) ctx.dispatcher.wake(task.arch);
  else if (task.parent_id !== null) ctx.advance(task.parent_id);
  return { retried: retry };
}

async function descendants(ctx: HubContext, rootId: number): Promise<number[]> {
  const all: number[] = [];
  let frontier = [rootId];
  while (frontier.length) {
    const rows = await ctx.db.selectFrom("tasks").select("id").where("parent_id", "in", frontier).execute();
    frontier = rows.map((r) => r.id);
    all.push(...frontier);
  }
  return all;
}

async function setTaskFinal(
  trx: Transaction<Database>,
  ctx: HubContext,
  task: TaskRow,
  state: "closed" | "failed" | "canceled",
  userId: number | null,
  given: { error?: { code: string; message: string }; result?: unknown } = {},
): Promise<boolean> {
  const now = ctx.now();
  const extra = given.error ? { ...given, error: publicTaskError(given.error, ctx.dataDir) } : given;
  const res = await trx
    .updateTable("tasks")
    .set({
      state,
      completed_at: now,
      lease_expires: null,
      ...(extra.error ? { error_code: extra.error.code, error_message: extra.error.message } : {}),
      ...(extra.result !== undefined ? { result: JSON.stringify(extra.result) } : {}),
    })
    .where("id", "=", task.id)
    .where("state", "not in", ["closed", "failed", "canceled"])
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await recordEvent(
    trx,
    { userId, kind: "task.state", objectType: "task", objectId: task.id, data: { state, ...(extra.error ? { error: extra.error } : {}) } },
    now,
  );
  return true;
}

async function setBuildState(
  trx: Transaction<Database>,
  ctx: HubContext,
  buildId: number,
  state: string,
  userId: number | null,
): Promise<void> {
  const now = ctx.now();
  const res = await trx
    .updateTable("builds")
    .set({ state, completed_at: state === "building" ? null : now })
    .where("id", "=", buildId)
    .where("state", "=", "building")
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) === 1)
    await recordEvent(trx, { userId, kind: "build.state", objectType: "build", objectId: buildId, data: { state } }, now);
}

/** Cancel a task and everything under it; a build it was making becomes canceled. */
export async function cancelTask(ctx: HubContext, principal: Principal, taskId: number): Promise<void> {
  const task = await ctx.db.selectFrom("tasks").selectAll().where("id", "=", taskId).executeTakeFirst();
  if (!task) throw orchestratorError("NOT_FOUND", `task ${taskId} does not exist`);
  if (task.owner_id !== principal.userId && !principal.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", `task ${taskId} belongs to another user; only its owner or an admin can cancel it`);
  if (isTerminal(task.state)) throw orchestratorError("TASK_STATE", `task ${taskId} is ${task.state} already`);
  const ids = [taskId, ...(await descendants(ctx, taskId))];
  await ctx.db.transaction().execute(async (trx) => {
    const rows = await trx.selectFrom("tasks").selectAll().where("id", "in", ids).execute();
    for (const row of rows) {
      if (await setTaskFinal(trx, ctx, row, "canceled", principal.userId)) {
        if (row.method === "build" && row.build_id !== null) await setBuildState(trx, ctx, row.build_id, "canceled", principal.userId);
      }
    }
  });
  ctx.bus.ping();
  if (task.parent_id !== null) ctx.advance(task.parent_id);
}

/** Run a finished top-level task again as a new task (same request). */
export async function resubmitTask(ctx: HubContext, principal: Principal, taskId: number): Promise<number> {
  const task = await ctx.db.selectFrom("tasks").selectAll().where("id", "=", taskId).executeTakeFirst();
  if (!task) throw orchestratorError("NOT_FOUND", `task ${taskId} does not exist`);
  if (task.parent_id !== null)
    throw orchestratorError("TASK_STATE", `task ${taskId} is a subtask; resubmit its top task ${task.parent_id}`);
  if (task.state !== "failed" && task.state !== "canceled")
    throw orchestratorError("TASK_STATE", `task ${taskId} is ${task.state}; only failed or canceled tasks are resubmitted`);
  if (task.owner_id !== principal.userId && !principal.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", `task ${taskId} belongs to another user`);
  const hubRun = (hubMethods as readonly string[]).includes(task.method);
  const id = await ctx.db.transaction().execute((trx) =>
    insertTask(trx, ctx, {
      parentId: null,
      label: null,
      method: task.method,
      arch: task.arch,
      state: hubRun ? "open" : "free",
      priority: task.priority,
      ownerId: principal.userId,
      request: JSON.parse(task.request),
      tagId: task.tag_id,
    }),
  );
  if (id === undefined) throw new Error("task insert returned no id");
  ctx.bus.ping();
  if (hubRun) ctx.advance(id);
  else ctx.dispatcher.wake(task.arch);
  return id;
}

interface BuildProgress {
  source: string;
  version: string;
  arches: string[];
  buildTag: string;
  destTag: string;
  scratch: boolean;
}

/**
 * Drives hub-side tasks. Each call looks at the task and its children in the database and takes the next
 * step, so it is safe to call again at any time (after a restart, twice in a row): children are unique per
 * parent and label, and every state change is a compare-and-set.
 */
export class TaskEngine {
  private readonly running = new Map<number, Promise<void>>();
  private readonly again = new Set<number>();
  private readonly repoLocks = new Map<number, Promise<unknown>>();

  constructor(private readonly ctx: HubContext) {}

  /** Schedule a step for a task; concurrent requests for one task collapse into one more pass. */
  advance(taskId: number): void {
    if (this.running.has(taskId)) {
      this.again.add(taskId);
      return;
    }
    const pass = (async () => {
      do {
        this.again.delete(taskId);
        try {
          await this.step(taskId);
        } catch (error) {
          this.ctx.logger.error({ task: taskId, err: error }, "task step failed");
          await this.failUnexpected(taskId, error).catch(() => {});
        }
      } while (this.again.has(taskId));
    })().finally(() => this.running.delete(taskId));
    this.running.set(taskId, pass);
  }

  /** Wait until no step is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running.values()]);
  }

  /** Resume every open hub-side task (after a restart). */
  async resumeAll(): Promise<void> {
    const open = await this.ctx.db
      .selectFrom("tasks")
      .select("id")
      .where("state", "=", "open")
      .where("method", "in", [...hubMethods])
      .execute();
    for (const row of open) this.advance(row.id);
  }

  private async failUnexpected(taskId: number, error: unknown): Promise<void> {
    const coded = error as { code?: string; message?: string; category?: string };
    if (coded.category === "environment" || coded.category === "internal" || coded.code === undefined) return; // retried by the sweep
    await this.finish(taskId, "failed", { error: { code: coded.code, message: String(coded.message) } });
  }

  private async step(taskId: number): Promise<void> {
    const task = await this.ctx.db.selectFrom("tasks").selectAll().where("id", "=", taskId).executeTakeFirst();
    if (task?.state !== "open") return;
    if (task.method === "build") await this.stepBuild(task);
    else if (task.method === "tagBuild") await this.stepTagBuild(task);
    else if (task.method === "newRepo") await this.stepNewRepo(task);
  }

  private async finish(
    taskId: number,
    state: "closed" | "failed" | "canceled",
    extra: { error?: { code: string; message: string }; result?: unknown } = {},
  ): Promise<void> {
    const task = await this.ctx.db.selectFrom("tasks").selectAll().where("id", "=", taskId).executeTakeFirst();
    if (!task) return;
    const changed = await this.ctx.db.transaction().execute(async (trx) => {
      const done = await setTaskFinal(trx, this.ctx, task, state, null, extra);
      if (done && task.method === "build" && task.build_id !== null && state !== "closed")
        await setBuildState(trx, this.ctx, task.build_id, state, null);
      return done;
    });
    if (changed) {
      this.ctx.bus.ping();
      if (task.parent_id !== null) this.advance(task.parent_id);
    }
  }

  private async prepareBuild(task: TaskRow): Promise<BuildProgress | undefined> {
    const request = JSON.parse(task.request) as BuildRequest;
    const { db } = this.ctx;
    const target = await db
      .selectFrom("targets")
      .innerJoin("tags as b", "b.id", "targets.build_tag_id")
      .innerJoin("tags as d", "d.id", "targets.dest_tag_id")
      .select(["b.name as buildTag", "b.arches as arches", "d.name as destTag"])
      .where("targets.name", "=", request.target)
      .executeTakeFirst();
    if (!target) {
      await this.finish(task.id, "failed", { error: { code: "NOT_FOUND", message: `target '${request.target}' does not exist` } });
      return undefined;
    }
    const dscRef = request.files.find((f) => f.name === request.dsc);
    let summary: ReturnType<typeof summarizeDsc>;
    try {
      if (!dscRef) throw orchestratorError("SOURCE_INVALID", `the .dsc '${request.dsc}' is not among the uploaded files`);
      if (dscRef.size > 1024 * 1024) throw orchestratorError("SOURCE_INVALID", `the .dsc is ${dscRef.size} bytes; the limit is 1 MiB`);
      summary = summarizeDsc(await readFile(this.ctx.store.pathOf(dscRef.sha256), "utf8"));
      // the builder's result is checked against the full .dsc (Binary, Architecture): it must parse now
      await readTaskDsc(this.ctx.store, request).catch((error: CodedError) => {
        throw orchestratorError("SOURCE_INVALID", error.message.replace(/^the task's \.dsc cannot be read: /, ""));
      });
      for (const listed of summary.files) {
        const uploaded = request.files.find((f) => f.name === listed.name);
        if (!uploaded) throw orchestratorError("SOURCE_INVALID", `the .dsc lists '${listed.name}', which was not uploaded`);
        if (uploaded.sha256 !== listed.sha256 || uploaded.size !== listed.size)
          throw orchestratorError("SOURCE_INVALID", `'${listed.name}' differs from the .dsc's Checksums-Sha256 entry`);
      }
    } catch (error) {
      const coded = error as { code?: string; message?: string };
      await this.finish(task.id, "failed", { error: { code: coded.code ?? "SOURCE_INVALID", message: String(coded.message) } });
      return undefined;
    }
    const tagArches = target.arches.split(" ").filter(Boolean);
    let arches = request.arches?.length ? tagArches.filter((a) => request.arches?.includes(a)) : tagArches;
    const dscArches = summary.architectures;
    const anyArch = dscArches.some((a) => a === "any" || a.endsWith("-any") || a.startsWith("any-"));
    if (!anyArch) {
      const listed = arches.filter((a) => dscArches.includes(a));
      arches = listed.length ? listed : dscArches.includes("all") ? arches.slice(0, 1) : [];
    }
    if (arches.length === 0) {
      await this.finish(task.id, "failed", {
        error: {
          code: "SOURCE_INVALID",
          message: `no architecture to build: the .dsc says '${dscArches.join(" ")}', tag '${target.buildTag}' has '${tagArches.join(" ")}'`,
        },
      });
      return undefined;
    }
    const progress: BuildProgress = {
      source: summary.source,
      version: summary.version,
      arches,
      buildTag: target.buildTag,
      destTag: target.destTag,
      scratch: request.scratch === true,
    };
    const now = this.ctx.now();
    const failure = await db.transaction().execute(async (trx) => {
      let buildId: number | null = null;
      if (!progress.scratch) {
        let pkg = await trx.selectFrom("packages").select("id").where("name", "=", summary.source).executeTakeFirst();
        if (!pkg) {
          pkg = await trx
            .insertInto("packages")
            .values({ name: summary.source, created_at: now })
            .returning("id")
            .executeTakeFirstOrThrow();
          await recordEvent(
            trx,
            { userId: task.owner_id, kind: "package.created", objectType: "package", objectId: pkg.id, data: { name: summary.source } },
            now,
          );
        }
        const existing = await trx
          .selectFrom("builds")
          .selectAll()
          .where("name", "=", summary.source)
          .where("version", "=", summary.version)
          .executeTakeFirst();
        if (existing && existing.task_id !== task.id && (existing.state === "building" || existing.state === "complete"))
          return {
            code: "BUILD_EXISTS",
            message: `build ${summary.source} ${summary.version} exists already (${existing.state}, build ${existing.id})`,
          };
        const source = JSON.stringify({ dsc: request.dsc, files: request.files });
        if (existing) {
          await trx
            .updateTable("builds")
            .set({ state: "building", task_id: task.id, owner_id: task.owner_id, source, created_at: now, completed_at: null })
            .where("id", "=", existing.id)
            .execute();
          await trx.deleteFrom("binaries").where("build_id", "=", existing.id).execute();
          buildId = existing.id;
        } else {
          const row = await trx
            .insertInto("builds")
            .values({
              package_id: pkg.id,
              name: summary.source,
              version: summary.version,
              state: "building",
              task_id: task.id,
              owner_id: task.owner_id,
              source,
              created_at: now,
              completed_at: null,
            })
            .returning("id")
            .executeTakeFirstOrThrow();
          buildId = row.id;
        }
        await recordEvent(
          trx,
          {
            userId: task.owner_id,
            kind: "build.state",
            objectType: "build",
            objectId: buildId,
            data: { state: "building", name: summary.source, version: summary.version, task: task.id },
          },
          now,
        );
      }
      await trx
        .updateTable("tasks")
        .set({ build_id: buildId, result: JSON.stringify(progress) })
        .where("id", "=", task.id)
        .execute();
      return undefined;
    });
    if (failure) {
      await this.finish(task.id, "failed", { error: failure });
      return undefined;
    }
    return progress;
  }

  private async extraReposFor(buildTag: string): Promise<ExtraRepo[]> {
    const repos: ExtraRepo[] = [];
    const tag = await this.ctx.db.selectFrom("tags").select("id").where("name", "=", buildTag).executeTakeFirst();
    if (!tag) return repos;
    const ready = await this.ctx.db
      .selectFrom("repos")
      .select("id")
      .where("tag_id", "=", tag.id)
      .where("state", "=", "ready")
      .executeTakeFirst();
    if (ready)
      repos.push({
        url: `${this.ctx.publicUrl}/repos/${buildTag}/latest`,
        suite: buildTag,
        components: ["main"],
        ...(this.ctx.repoPublicKey ? { key: this.ctx.repoPublicKey } : {}),
      });
    for (const external of await tagExternalRepos(this.ctx.db, tag.id))
      repos.push({ url: external.url, suite: external.suite, components: external.components.split(" ") });
    return repos;
  }

  private async stepBuild(task: TaskRow): Promise<void> {
    const progress = task.result ? (JSON.parse(task.result) as BuildProgress) : await this.prepareBuild(task);
    if (!progress) return;
    const request = JSON.parse(task.request) as BuildRequest;
    const children = await this.ctx.db.selectFrom("tasks").selectAll().where("parent_id", "=", task.id).execute();
    const byLabel = new Map(children.map((c) => [c.label, c]));
    const fresh = await this.ctx.db.selectFrom("tasks").select("build_id").where("id", "=", task.id).executeTakeFirstOrThrow();
    const missing = progress.arches.filter((arch) => !byLabel.has(`buildArch-${arch}`));
    if (missing.length) {
      const extraRepos = await this.extraReposFor(progress.buildTag);
      await this.ctx.db.transaction().execute(async (trx) => {
        for (const arch of missing) {
          const archRequest: BuildArchRequest = {
            source: progress.source,
            version: progress.version,
            arch,
            dsc: request.dsc,
            files: request.files,
            buildTag: progress.buildTag,
            extraRepos,
          };
          await insertTask(trx, this.ctx, {
            parentId: task.id,
            label: `buildArch-${arch}`,
            method: "buildArch",
            arch,
            state: "free",
            priority: task.priority,
            ownerId: task.owner_id,
            request: archRequest,
            buildId: fresh.build_id,
          });
        }
      });
      for (const arch of missing) this.ctx.dispatcher.wake(arch);
      this.ctx.bus.ping();
      return;
    }
    const archTasks = progress.arches.map((arch) => byLabel.get(`buildArch-${arch}`)!);
    const failed = archTasks.find((t) => t.state === "failed");
    const canceled = archTasks.find((t) => t.state === "canceled");
    if (failed || canceled) {
      for (const other of archTasks.filter((t) => !isTerminal(t.state)))
        await this.ctx.db.transaction().execute((trx) => setTaskFinal(trx, this.ctx, other, "canceled", null));
      if (failed)
        await this.finish(task.id, "failed", {
          error: {
            code: failed.error_code ?? "BUILD_STEP_FAILED",
            message: `buildArch ${failed.arch} (task ${failed.id}) failed: ${failed.error_message ?? ""}`,
          },
          result: progress,
        });
      else await this.finish(task.id, "canceled", { result: progress });
      return;
    }
    if (!archTasks.every((t) => t.state === "closed")) return;
    if (progress.scratch) {
      await this.finish(task.id, "closed", { result: progress });
      return;
    }
    const buildId = fresh.build_id;
    if (buildId === null) return;
    await this.ctx.db.transaction().execute((trx) => setBuildState(trx, this.ctx, buildId, "complete", task.owner_id));
    const tagTask = byLabel.get("tagBuild");
    if (!tagTask) {
      const destTag = await this.ctx.db.selectFrom("tags").select("id").where("name", "=", progress.destTag).executeTakeFirst();
      const id = await this.ctx.db.transaction().execute((trx) =>
        insertTask(trx, this.ctx, {
          parentId: task.id,
          label: "tagBuild",
          method: "tagBuild",
          arch: null,
          state: "open",
          priority: task.priority,
          ownerId: task.owner_id,
          request: { tag: progress.destTag, build: buildId },
          buildId,
          tagId: destTag?.id ?? null,
        }),
      );
      this.ctx.bus.ping();
      if (id !== undefined) this.advance(id);
      return;
    }
    if (tagTask.state === "failed" || tagTask.state === "canceled") {
      await this.finish(task.id, "failed", {
        error: {
          code: tagTask.error_code ?? "TASK_STATE",
          message: `tagBuild (task ${tagTask.id}) ${tagTask.state}: ${tagTask.error_message ?? ""}`,
        },
        result: progress,
      });
      return;
    }
    if (tagTask.state !== "closed") return;
    const repoTask = byLabel.get("newRepo");
    if (!repoTask) {
      const destTag = await this.ctx.db.selectFrom("tags").select("id").where("name", "=", progress.destTag).executeTakeFirst();
      const id = await this.ctx.db.transaction().execute((trx) =>
        insertTask(trx, this.ctx, {
          parentId: task.id,
          label: "newRepo",
          method: "newRepo",
          arch: null,
          state: "open",
          priority: task.priority,
          ownerId: task.owner_id,
          request: { tag: progress.destTag },
          tagId: destTag?.id ?? null,
        }),
      );
      this.ctx.bus.ping();
      if (id !== undefined) this.advance(id);
      return;
    }
    if (repoTask.state === "closed") await this.finish(task.id, "closed", { result: progress });
    else if (repoTask.state === "failed" || repoTask.state === "canceled")
      await this.finish(task.id, "failed", {
        error: {
          code: repoTask.error_code ?? "PUBLISH_FAILED",
          message: `newRepo (task ${repoTask.id}) ${repoTask.state}: ${repoTask.error_message ?? ""}`,
        },
        result: progress,
      });
  }

  private async stepTagBuild(task: TaskRow): Promise<void> {
    const request = JSON.parse(task.request) as { tag: string; build: number };
    const now = this.ctx.now();
    const problem = await this.ctx.db.transaction().execute(async (trx) => {
      const tag = await trx.selectFrom("tags").select("id").where("name", "=", request.tag).executeTakeFirst();
      const build = await trx.selectFrom("builds").select(["id", "package_id", "state"]).where("id", "=", request.build).executeTakeFirst();
      if (!tag || !build) return { code: "NOT_FOUND", message: `tag '${request.tag}' or build ${request.build} does not exist` };
      if (build.state !== "complete") return { code: "TASK_STATE", message: `build ${build.id} is ${build.state}, not complete` };
      const inserted = await trx
        .insertInto("tagged_builds")
        .values({ tag_id: tag.id, build_id: build.id, package_id: build.package_id, tagged_at: now, tagged_by: task.owner_id })
        .onConflict((oc) => oc.columns(["tag_id", "build_id"]).doNothing())
        .returning("build_id")
        .executeTakeFirst();
      if (inserted)
        await recordEvent(
          trx,
          {
            userId: task.owner_id,
            kind: "tag.build-added",
            objectType: "tag",
            objectId: tag.id,
            data: { tag: request.tag, build: build.id },
            buildId: build.id,
          },
          now,
        );
      return undefined;
    });
    if (problem) await this.finish(task.id, "failed", { error: problem });
    else await this.finish(task.id, "closed", { result: { tag: request.tag, build: request.build } });
  }

  private async stepNewRepo(task: TaskRow): Promise<void> {
    const request = JSON.parse(task.request) as { tag: string };
    const tag = await this.ctx.db.selectFrom("tags").selectAll().where("name", "=", request.tag).executeTakeFirst();
    if (!tag) {
      await this.finish(task.id, "failed", { error: { code: "NOT_FOUND", message: `tag '${request.tag}' does not exist` } });
      return;
    }
    // one regeneration of a tag at a time
    const previous = this.repoLocks.get(tag.id) ?? Promise.resolve();
    const mine = previous.catch(() => {}).then(() => this.publishRepo(task, tag));
    this.repoLocks.set(tag.id, mine);
    try {
      await mine;
    } finally {
      if (this.repoLocks.get(tag.id) === mine) this.repoLocks.delete(tag.id);
    }
  }

  private async publishRepo(task: TaskRow, tag: { id: number; name: string; arches: string }): Promise<void> {
    const { db } = this.ctx;
    const now = this.ctx.now();
    const repo = await db.transaction().execute(async (trx) => {
      const last = await trx
        .selectFrom("repos")
        .select((eb) => eb.fn.max("number").as("n"))
        .where("tag_id", "=", tag.id)
        .executeTakeFirst();
      const number = Number(last?.n ?? 0) + 1;
      const row = await trx
        .insertInto("repos")
        .values({ tag_id: tag.id, number, state: "init", task_id: task.id, created_at: now })
        .returning("id")
        .executeTakeFirstOrThrow();
      return { id: row.id, number };
    });
    const tagDir = join(this.ctx.dataDir, "repos", tag.name);
    const dir = join(tagDir, String(repo.number));
    try {
      const arches = tag.arches.split(" ").filter(Boolean);
      const builds = await latestTagged(db, tag.id);
      const binaries = builds.length
        ? await db
            .selectFrom("binaries")
            .innerJoin("builds", "builds.id", "binaries.build_id")
            .select([
              "binaries.name",
              "binaries.version",
              "binaries.arch",
              "binaries.filename",
              "binaries.sha256",
              "binaries.size",
              "builds.name as source",
            ])
            .where(
              "binaries.build_id",
              "in",
              builds.map((b) => b.buildId),
            )
            .where("binaries.arch", "in", [...arches, "all"])
            .orderBy("binaries.name")
            .orderBy("binaries.arch")
            .execute()
        : [];
      await rm(dir, { recursive: true, force: true });
      const { mkdir } = await import("node:fs/promises");
      await mkdir(dir, { recursive: true });
      const published = await this.ctx.publisher.publish({
        tag: tag.name,
        number: repo.number,
        dir,
        suite: tag.name,
        arches,
        files: binaries.map((b) => ({ ...b, size: Number(b.size), path: this.ctx.store.pathOf(b.sha256) })),
      });
      const tmpLink = join(tagDir, `.latest-${repo.number}`);
      await rm(tmpLink, { force: true });
      await symlink(String(repo.number), tmpLink);
      await rename(tmpLink, join(tagDir, "latest"));
      await db.transaction().execute(async (trx) => {
        await trx.updateTable("repos").set({ state: "ready" }).where("id", "=", repo.id).execute();
        await trx
          .updateTable("repos")
          .set({ state: "expired" })
          .where("tag_id", "=", tag.id)
          .where("state", "=", "ready")
          .where("id", "!=", repo.id)
          .execute();
        await recordEvent(
          trx,
          {
            userId: task.owner_id,
            kind: "repo.ready",
            objectType: "tag",
            objectId: tag.id,
            data: { tag: tag.name, number: repo.number, packages: published.packages, signed: published.signed },
          },
          this.ctx.now(),
        );
      });
      await this.finish(task.id, "closed", {
        result: { tag: tag.name, repo: repo.number, packages: published.packages, signed: published.signed },
      });
    } catch (error) {
      this.ctx.logger.error({ task: task.id, tag: tag.name, err: error }, "repository publication failed");
      await db.updateTable("repos").set({ state: "failed" }).where("id", "=", repo.id).execute();
      await this.finish(task.id, "failed", {
        error: { code: "PUBLISH_FAILED", message: `writing repository ${tag.name}/${repo.number} failed: ${(error as Error).message}` },
      });
    }
  }
}

export { tagChain };
