import { capabilityOf, hubMethods, isTerminal } from "../../api/tasks.js";
import { orchestratorError } from "../../errors.js";
import type { Principal } from "../auth.js";
import { setBuildState } from "../catalog/builds.js";
import type { HubContext } from "../context.js";
import * as transition from "./transitions.js";

/* What a user does to a task: cancel it (with everything under it), or run a failed one again. */

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

/** Cancel a task and everything under it; a build it was making becomes canceled. */
export async function cancelTask(ctx: HubContext, principal: Principal, taskId: number): Promise<void> {
  const task = await ctx.db.selectFrom("tasks").selectAll().where("id", "=", taskId).executeTakeFirst();
  if (!task) throw orchestratorError("NOT_FOUND", `task ${taskId} does not exist`);
  if (task.owner_id !== principal.userId && !principal.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", `task ${taskId} belongs to another user; only its owner or an admin can cancel it`);
  if (isTerminal(task.state)) throw orchestratorError("TASK_STATE", `task ${taskId} is ${task.state} already`);
  const ids = [taskId, ...(await descendants(ctx, taskId))];
  await ctx.db.transaction().execute(async (trx) => {
    for (const id of ids) {
      const canceled = await transition.cancel(trx, ctx, id, { userId: principal.userId });
      if (canceled?.method === "build" && canceled.build_id !== null)
        await setBuildState(trx, ctx, canceled.build_id, "canceled", principal.userId);
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
  const id = await ctx.db.transaction().execute((trx) =>
    transition.insert(trx, ctx, {
      parentId: null,
      label: null,
      method: task.method as transition.NewTask["method"],
      arch: task.arch,
      priority: task.priority,
      ownerId: principal.userId,
      request: JSON.parse(task.request),
      tagId: task.tag_id,
    }),
  );
  if (id === undefined) throw new Error("task insert returned no id");
  ctx.bus.ping();
  if ((hubMethods as readonly string[]).includes(task.method)) ctx.advance(id);
  else ctx.dispatcher.wake(task.arch, capabilityOf(task.method));
  return id;
}
