import { isCodedError } from "@debian-bootc/core";
import type { z } from "zod";
import type { tagBuildRequest } from "../../../api/tasks.js";
import { addTagged } from "../../catalog/tags.js";
import type { Stepper } from "../step-runner.js";
import type { TaskRow } from "../transitions.js";

/** tagBuild: a complete build enters the build's destination tag (one step, through the tagging function). */
export async function stepTagBuild(run: Stepper, task: TaskRow, request: z.infer<typeof tagBuildRequest>): Promise<void> {
  const { ctx } = run;
  const problem = await ctx.db.transaction().execute(async (trx) => {
    const tag = await trx.selectFrom("tags").select(["id", "name"]).where("name", "=", request.tag).executeTakeFirst();
    const build = await trx
      .selectFrom("builds")
      .select(["id", "package_id", "state", "name", "version"])
      .where("id", "=", request.build)
      .executeTakeFirst();
    if (!tag || !build) return { code: "NOT_FOUND", message: `tag '${request.tag}' or build ${request.build} does not exist` };
    try {
      await addTagged(trx, ctx, tag, build, task.owner_id);
    } catch (error) {
      if (isCodedError(error)) return { code: error.code, message: error.message };
      throw error;
    }
    return undefined;
  });
  if (problem) await run.finish(task.id, "failed", { error: problem });
  else await run.finish(task.id, "closed", { result: { tag: request.tag, build: request.build } });
}
