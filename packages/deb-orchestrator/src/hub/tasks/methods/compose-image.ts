import type { Transaction } from "kysely";
import { type ComposeImageRequest, composeImageRequest, pathConflict, terminalStates } from "../../../api/tasks.js";
import type { Database } from "../../../db/schema.js";
import { orchestratorError } from "../../../errors.js";
import type { Principal } from "../../auth.js";
import { runningCompose } from "../../catalog/composes.js";
import type { HubContext } from "../../context.js";
import * as transition from "../transitions.js";
import { DEFAULT_PRIORITY } from "./build.js";

/**
 * Queue a compose's image phases for one variant and architecture as a composeImage task, which only a
 * builder with the `image` capability claims. The compose must be recorded, running and the caller's;
 * every snapshot and definition file must be in the artifact store, each path once (and none also
 * another's directory). The request is checked against its
 * schema here as well as at the API's edge: its names become paths on the builder.
 */
export async function queueComposeImage(ctx: HubContext, principal: Principal, input: ComposeImageRequest): Promise<number> {
  const parsed = composeImageRequest.safeParse(input);
  if (!parsed.success)
    throw orchestratorError(
      "REQUEST_INVALID",
      `composeImage request: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`,
    );
  const request = parsed.data;
  const compose = await runningCompose(ctx.db, principal, request.compose);
  const conflict = pathConflict(request.snapshot.map((f) => f.path));
  if (conflict) throw orchestratorError("PATH_INVALID", `snapshot file ${conflict}`);
  // the definition and the files it refers to share one directory on the builder
  const definitionConflict = pathConflict([request.definitionFile, ...request.definitionFiles.map((f) => f.path)]);
  if (definitionConflict) throw orchestratorError("PATH_INVALID", `definition file ${definitionConflict}`);
  for (const [list, files] of [
    ["snapshot", request.snapshot],
    ["definition", request.definitionFiles],
  ] as const)
    for (const file of files)
      if (!(await ctx.store.has(file.sha256)))
        throw orchestratorError("ARTIFACT_MISSING", `${list} file '${file.path}' (${file.sha256}) has not been uploaded`, {
          hint: "PUT it to /api/v1/artifacts/<sha256> first",
        });
  const id = await ctx.db.transaction().execute((trx) =>
    transition.insert(trx, ctx, {
      parentId: null,
      label: null,
      method: "composeImage",
      arch: request.arch,
      priority: DEFAULT_PRIORITY,
      ownerId: compose.owner_id,
      request,
    }),
  );
  if (id === undefined) throw new Error("task insert returned no id");
  ctx.dispatcher.wake(request.arch);
  ctx.bus.ping();
  return id;
}

/**
 * A compose ended (finished, failed, interrupted or abandoned): its image tasks that have not ended are
 * canceled, so no builder goes on making an image nobody will collect (a builder running one hears at
 * its next heartbeat that the task is no longer its own). Returns the canceled task ids.
 */
export async function cancelComposeImages(trx: Transaction<Database>, ctx: HubContext, composeId: string, userId: number | null) {
  const active = await trx
    .selectFrom("tasks")
    .select(["id", "request"])
    .where("method", "=", "composeImage")
    .where("state", "not in", [...terminalStates])
    .execute();
  const canceled: number[] = [];
  for (const task of active) {
    const parsed = composeImageRequest.safeParse(JSON.parse(task.request));
    if (!parsed.success || parsed.data.compose !== composeId) continue;
    if (await transition.cancel(trx, ctx, task.id, { userId })) canceled.push(task.id);
  }
  return canceled;
}
