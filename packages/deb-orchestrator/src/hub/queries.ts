import { type AptUnmetRelation, describeAptUnmet } from "@debian-bootc/deb-mock";
import type { Kysely } from "kysely";
import { z } from "zod";
import { type BuilderMethod, builderMethods, methodCapability } from "../api/tasks.js";
import type { Database } from "../db/schema.js";
import { orchestratorError } from "../errors.js";
import { rebuildOf } from "./auto-rebuild.js";
import { findBuild } from "./catalog/builds.js";
import type { HubContext } from "./context.js";
import { hostLoads, isOnline } from "./hosts.js";
import { listLogs, taskLogTail } from "./task-log.js";
import { explainDepWait } from "./tasks/dep-wait.js";
import type { TaskRow } from "./tasks/transitions.js";

export function taskView(task: TaskRow, hostName?: string | null) {
  return {
    id: task.id,
    parent: task.parent_id,
    label: task.label,
    method: task.method,
    arch: task.arch,
    state: task.state,
    priority: task.priority,
    host: hostName ?? null,
    owner: task.owner_id,
    attempts: task.attempts,
    build: task.build_id,
    request: JSON.parse(task.request) as unknown,
    result: task.result === null ? null : (JSON.parse(task.result) as unknown),
    error: task.error_code === null ? null : { code: task.error_code, message: task.error_message ?? "" },
    createdAt: task.created_at,
    startedAt: task.started_at,
    completedAt: task.completed_at,
    leaseExpires: task.lease_expires,
  };
}
export type TaskView = ReturnType<typeof taskView>;

async function hostNames(db: Kysely<Database>): Promise<Map<number, string>> {
  const hosts = await db.selectFrom("hosts").select(["id", "name"]).execute();
  return new Map(hosts.map((h) => [h.id, h.name]));
}

export async function getTask(ctx: HubContext, id: number) {
  const task = await ctx.db.selectFrom("tasks").selectAll().where("id", "=", id).executeTakeFirst();
  if (!task) throw orchestratorError("NOT_FOUND", `task ${id} does not exist`);
  const names = await hostNames(ctx.db);
  const children = await ctx.db.selectFrom("tasks").selectAll().where("parent_id", "=", id).orderBy("id").execute();
  const files = await ctx.db
    .selectFrom("task_files")
    .select(["name", "sha256", "size", "kind"])
    .where("task_id", "=", id)
    .orderBy("name")
    .execute();
  const history = await ctx.db
    .selectFrom("events")
    .select(["id", "time", "kind", "data"])
    .where("object_type", "=", "task")
    .where("object_id", "=", id)
    .orderBy("id")
    .execute();
  return {
    ...taskView(task, task.host_id === null ? null : names.get(task.host_id)),
    children: children.map((c) => taskView(c, c.host_id === null ? null : names.get(c.host_id))),
    files: files.map((f) => ({ ...f, size: Number(f.size) })),
    logs: await listLogs(ctx, id),
    history: history.map((h) => ({ id: h.id, time: h.time, kind: h.kind, ...(JSON.parse(h.data) as object) })),
  };
}

/** A task as GET /api/v1/tasks/:id answers: the task, its children, files, logs and history. */
export type TaskDetail = Awaited<ReturnType<typeof getTask>>;

export async function listTasks(
  ctx: HubContext,
  filter: { state?: string[]; method?: string; parent?: number; owner?: number; limit?: number; topLevel?: boolean },
) {
  let query = ctx.db.selectFrom("tasks").selectAll();
  if (filter.state?.length) query = query.where("state", "in", filter.state);
  if (filter.method) query = query.where("method", "=", filter.method);
  if (filter.parent !== undefined) query = query.where("parent_id", "=", filter.parent);
  if (filter.topLevel) query = query.where("parent_id", "is", null);
  const rows = await query
    .orderBy("id", "desc")
    .limit(filter.limit ?? 100)
    .execute();
  const names = await hostNames(ctx.db);
  return rows.map((t) => taskView(t, t.host_id === null ? null : names.get(t.host_id)));
}

export interface WhyAnswer {
  task: number;
  state: string;
  /** One sentence: why it waits, runs or failed. */
  reason: string;
  details?: Record<string, unknown>;
}

/** What apt could not satisfy, as the builder reported it from deb-mock's result.json (a builder's word: checked). */
const aptUnsatisfied = z
  .array(
    z.object({
      package: z.string().max(200),
      type: z.enum(["Depends", "Pre-Depends", "Conflicts", "Breaks", "Recommends"]),
      relation: z.string().max(2000),
      reasons: z.array(z.string().max(2000)).max(20),
    }),
  )
  .min(1)
  .max(50);

/** A task as `why` names it: `task 21 (build)`, `task 22 (buildArch, amd64)` (never `build 21`, which reads as a build id). */
function taskName(task: Pick<TaskRow, "id" | "method" | "arch">): string {
  return `task ${task.id} (${task.method}${task.arch ? `, ${task.arch}` : ""})`;
}

/** One answer to "why is this waiting or failing", following a task tree down to the step that matters. */
export async function whyTask(ctx: HubContext, id: number, depth = 0): Promise<WhyAnswer> {
  const task = await ctx.db.selectFrom("tasks").selectAll().where("id", "=", id).executeTakeFirst();
  if (!task) throw orchestratorError("NOT_FOUND", `task ${id} does not exist`);
  const now = ctx.now();
  const base = { task: task.id, state: task.state };
  const children = await ctx.db.selectFrom("tasks").selectAll().where("parent_id", "=", id).orderBy("id").execute();
  const retried =
    task.attempts > 0 ? ` It was freed ${task.attempts} time(s) before (lease lapsed, builder restarted or environment failure).` : "";
  if (task.state === "closed") return { ...base, reason: `${taskName(task)} completed.` };
  if (task.state === "canceled") return { ...base, reason: `${taskName(task)} was canceled.` };
  if (task.state === "failed") {
    const failedChild = children.find((c) => c.state === "failed");
    if (failedChild && depth < 5) return whyTask(ctx, failedChild.id, depth + 1);
    const result = task.result ? (JSON.parse(task.result) as { failure?: Record<string, unknown> }) : {};
    const what = taskName(task);
    const unsatisfied = aptUnsatisfied.safeParse(result.failure?.unsatisfied);
    if (unsatisfied.success) {
      // apt's parsed verdict (the hub's own check let it through): the relations, not apt's output
      const relations: AptUnmetRelation[] = unsatisfied.data;
      return {
        ...base,
        reason: `${what} failed: apt could not satisfy its build-dependencies: ${relations.map(describeAptUnmet).join("; ")}`,
        details: { error: { code: task.error_code, message: task.error_message }, unsatisfied: relations },
      };
    }
    const tail = await taskLogTail(ctx, task.id, "build.log", 1500);
    return {
      ...base,
      reason: `${what} failed: ${task.error_code ?? "?"}: ${task.error_message ?? ""}`,
      details: {
        error: { code: task.error_code, message: task.error_message },
        ...(result.failure ? { failure: result.failure } : {}),
        ...(tail ? { buildLogTail: tail } : {}),
      },
    };
  }
  if ((builderMethods as readonly string[]).includes(task.method)) {
    if (task.state === "dep-wait") return { ...base, ...(await explainDepWait(ctx, task)) };
    if (task.state === "assigned" || task.state === "open") {
      const host =
        task.host_id === null
          ? undefined
          : await ctx.db.selectFrom("hosts").select(["name", "last_checkin"]).where("id", "=", task.host_id).executeTakeFirst();
      const lease =
        task.lease_expires === null
          ? ""
          : ` Its lease ends in ${Math.max(0, Math.round((task.lease_expires - now) / 1000))} s unless the builder checks in.`;
      return { ...base, reason: `${task.state === "open" ? "Running" : "Assigned"} on builder '${host?.name ?? "?"}'.${lease}${retried}` };
    }
    const arch = task.arch ?? "?";
    const hosts = await ctx.db.selectFrom("hosts").selectAll().execute();
    const onArch = hosts.filter((h) => h.arches.split(" ").includes(arch));
    if (onArch.length === 0)
      return { ...base, reason: `Waiting: no builder has ever checked in for architecture ${arch}.${retried}`, details: { arch } };
    const capability = methodCapability[task.method as BuilderMethod];
    const forArch = onArch.filter((h) => h.capabilities.split(" ").includes(capability));
    if (forArch.length === 0)
      return {
        ...base,
        reason: `Waiting: no builder for ${arch} has the '${capability}' capability (builder --capability ${capability}).${retried}`,
        details: { arch, capability },
      };
    const enabled = forArch.filter((h) => h.enabled === 1);
    if (enabled.length === 0)
      return { ...base, reason: `Waiting: every builder for ${arch} is disabled (${forArch.map((h) => h.name).join(", ")}).${retried}` };
    const online = enabled.filter((h) => isOnline(ctx, h.last_checkin, now));
    if (online.length === 0)
      return {
        ...base,
        reason: `Waiting: no enabled builder for ${arch} checked in during the last ${Math.round((2 * ctx.leaseMs) / 1000)} s (${enabled.map((h) => h.name).join(", ")}).${retried}`,
      };
    const loads = await hostLoads(
      ctx.db,
      online.map((h) => h.id),
    );
    const busy = online.map((h) => ({
      name: h.name,
      capacity: h.capacity,
      load: loads.get(h.id) ?? 0,
    }));
    const ahead = await ctx.db
      .selectFrom("tasks")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .where("state", "=", "free")
      .where("arch", "=", arch)
      .where((eb) => eb.or([eb("priority", "<", task.priority), eb.and([eb("priority", "=", task.priority), eb("id", "<", task.id)])]))
      .executeTakeFirst();
    if (busy.every((b) => b.load >= b.capacity))
      return {
        ...base,
        reason: `Waiting: all ${busy.length} builder(s) for ${arch} are busy; ${Number(ahead?.n ?? 0)} task(s) are ahead of it.${retried}`,
        details: { builders: busy },
      };
    return {
      ...base,
      reason: `Waiting to be claimed: ${busy.filter((b) => b.load < b.capacity).length} builder(s) for ${arch} have room; ${Number(ahead?.n ?? 0)} task(s) ahead.${retried}`,
      details: { builders: busy },
    };
  }
  const pending = children.find((c) => c.state !== "closed");
  if (pending && depth < 5) {
    const inner = await whyTask(ctx, pending.id, depth + 1);
    // a dep-wait says it all in its own words ("waiting for build 12 ...")
    if (inner.state === "dep-wait") return { ...base, reason: inner.reason, details: inner.details };
    return {
      ...base,
      reason: `${taskName(task)} waits for ${taskName(pending)}: ${inner.reason}`,
      details: inner.details,
    };
  }
  return { ...base, reason: `${taskName(task)} is being processed by the hub.` };
}

/** `why` for a build: the build by id and name/version, then what its task says. */
export async function whyBuild(ctx: HubContext, ref: string): Promise<WhyAnswer & { build: number }> {
  const build = await findBuild(ctx.db, ref);
  const what = `build ${build.id} (${build.name} ${build.version}${build.state === "deleted" ? ", deleted" : ""})`;
  if (build.task_id === null) return { build: build.id, task: 0, state: build.state, reason: `${what} has no task.` };
  const task = await whyTask(ctx, build.task_id);
  const answer = { build: build.id, ...task, reason: `${what}: ${task.reason}` };
  const rebuild = await rebuildOf(ctx.db, build.id);
  if (!rebuild) return answer;
  return {
    ...answer,
    reason: `${answer.reason.replace(/\.$/, "")}; an automatic rebuild in tag ${rebuild.tag}: ${rebuild.reason}`,
    details: { ...answer.details, rebuild },
  };
}

/** A result file of a task, by name. */
export async function taskFile(ctx: HubContext, taskId: number, name: string) {
  const file = await ctx.db.selectFrom("task_files").selectAll().where("task_id", "=", taskId).where("name", "=", name).executeTakeFirst();
  if (!file) throw orchestratorError("NOT_FOUND", `task ${taskId} has no file '${name}'`);
  return file;
}

/** A task's state, or undefined when it does not exist. */
export async function taskState(ctx: HubContext, taskId: number): Promise<string | undefined> {
  return (await ctx.db.selectFrom("tasks").select("state").where("id", "=", taskId).executeTakeFirst())?.state;
}
