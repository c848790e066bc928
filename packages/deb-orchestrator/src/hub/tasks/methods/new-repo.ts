import type { z } from "zod";
import type { newRepoRequest } from "../../../api/tasks.js";
import { orchestratorError } from "../../../errors.js";
import type { Principal } from "../../auth.js";
import { advanceRebuilds } from "../../auto-rebuild.js";
import type { HubContext } from "../../context.js";
import { publishTagRepo } from "../../repositories.js";
import { recheckDepWaits } from "../dep-wait.js";
import type { Stepper } from "../step-runner.js";
import * as transition from "../transitions.js";
import { DEFAULT_PRIORITY } from "./build.js";

/** newRepo: regenerate a tag's APT repository (a user's request, a build's last step, a deleted build). */
export async function submitNewRepo(ctx: HubContext, principal: Principal, tag: string, parentId: number | null = null): Promise<number> {
  const row = await ctx.db.selectFrom("tags").select("id").where("name", "=", tag).executeTakeFirst();
  if (!row) throw orchestratorError("NOT_FOUND", `tag '${tag}' does not exist`);
  const id = await ctx.db.transaction().execute((trx) =>
    transition.insert(trx, ctx, {
      parentId,
      label: parentId === null ? null : "newRepo",
      method: "newRepo",
      arch: null,
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

/** One regeneration of a tag at a time, per hub process. */
const repoLocks = new WeakMap<HubContext, Map<number, Promise<unknown>>>();

export async function stepNewRepo(run: Stepper, task: transition.TaskRow, request: z.infer<typeof newRepoRequest>): Promise<void> {
  const { ctx } = run;
  const tag = await ctx.db.selectFrom("tags").selectAll().where("name", "=", request.tag).executeTakeFirst();
  if (!tag) {
    await run.finish(task.id, "failed", { error: { code: "NOT_FOUND", message: `tag '${request.tag}' does not exist` } });
    return;
  }
  let locks = repoLocks.get(ctx);
  if (!locks) {
    locks = new Map();
    repoLocks.set(ctx, locks);
  }
  const previous = locks.get(tag.id) ?? Promise.resolve();
  const mine = previous
    .catch(() => {})
    .then(async () => {
      const outcome = await publishTagRepo(ctx, task, tag);
      // the repository now holds what landed: automatic rebuilds may start or go on (before the task
      // closes, so whoever waits for it sees what it caused)
      if (!("error" in outcome))
        await advanceRebuilds(ctx, tag.name).catch((error: unknown) =>
          ctx.logger.error({ tag: tag.name, err: (error as Error).message }, "automatic rebuilds failed"),
        );
      await run.finish(task.id, "error" in outcome ? "failed" : "closed", outcome);
      // what the new repository provides may end dep-waits of tasks building in this tag
      if (!("error" in outcome))
        await recheckDepWaits(ctx, tag.name).catch((error: Error) =>
          ctx.logger.error({ tag: tag.name, err: error }, "dep-wait re-check failed"),
        );
    });
  locks.set(tag.id, mine);
  try {
    await mine;
  } finally {
    if (locks.get(tag.id) === mine) locks.delete(tag.id);
  }
}
