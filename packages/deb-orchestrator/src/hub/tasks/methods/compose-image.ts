import type { Kysely, Transaction } from "kysely";
import { type ComposeImageRequest, composeImageRequest, methodCapability, pathConflict, terminalStates } from "../../../api/tasks.js";
import type { Database } from "../../../db/schema.js";
import { orchestratorError } from "../../../errors.js";
import type { Principal } from "../../auth.js";
import { runningCompose } from "../../catalog/composes.js";
import type { HubContext } from "../../context.js";
import { recordEvent } from "../../events.js";
import * as transition from "../transitions.js";
import { DEFAULT_PRIORITY } from "./build.js";

/**
 * An image task's label names its compose, variant and architecture (`compose:ID:VARIANT:ARCH`), so a
 * compose's tasks are found by label rather than by parsing every request (compose IDs hold no ':').
 */
export function composeImageLabel(request: { compose: string; variant: string; arch: string }): string {
  return `${composeImageLabelPrefix(request.compose)}${request.variant}:${request.arch}`;
}

function composeImageLabelPrefix(composeId: string): string {
  return `compose:${composeId}:`;
}

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
  return insertComposeTask(ctx, principal, compose, { method: "composeImage", label: composeImageLabel(request), request });
}

/** The builder methods a compose queues: the hub lists and cancels them with their compose. */
export const composeTaskMethods = ["composeImage", "diskImage", "updateTest"] as const;

/**
 * Insert a compose's builder task (its label starts with the compose's prefix) with the event that adds
 * it to the compose's page, and wake a builder of its architecture with the `image` capability.
 */
export async function insertComposeTask(
  ctx: HubContext,
  principal: Principal,
  compose: { id: number; owner_id: number },
  task: { method: (typeof composeTaskMethods)[number]; label: string; request: { compose: string; variant: string; arch: string } },
): Promise<number> {
  const { request } = task;
  const id = await ctx.db.transaction().execute(async (trx) => {
    const inserted = await transition.insert(trx, ctx, {
      parentId: null,
      label: task.label,
      method: task.method,
      arch: request.arch,
      priority: DEFAULT_PRIORITY,
      ownerId: compose.owner_id,
      request,
    });
    if (inserted === undefined) throw new Error("task insert returned no id");
    // the compose's page, following the compose's events, adds the task as it is queued
    await recordEvent(
      trx,
      {
        userId: principal.userId,
        kind: "compose.task",
        objectType: "compose",
        objectId: compose.id,
        data: { compose: request.compose, task: inserted, method: task.method, variant: request.variant, arch: request.arch },
      },
      ctx.now(),
    );
    return inserted;
  });
  ctx.dispatcher.wake(request.arch, methodCapability[task.method]);
  ctx.bus.ping();
  return id;
}

/**
 * A compose ended (finished, failed, interrupted or abandoned): its image, disk image and update-test tasks that have not ended are
 * canceled, so no builder goes on making an image nobody will collect (a builder running one hears at
 * its next heartbeat that the task is no longer its own). Returns the canceled task ids.
 */
export async function cancelComposeImages(trx: Transaction<Database>, ctx: HubContext, composeId: string, userId: number | null) {
  const prefix = composeImageLabelPrefix(composeId);
  // compose IDs hold no LIKE wildcards; SQLite's LIKE ignores case, the prefix check does not
  const active = await trx
    .selectFrom("tasks")
    .select(["id", "label"])
    .where("method", "in", [...composeTaskMethods])
    .where("label", "like", `${prefix}%`)
    .where("state", "not in", [...terminalStates])
    .execute();
  const canceled: number[] = [];
  for (const task of active) {
    if (!task.label?.startsWith(prefix)) continue;
    if (await transition.cancel(trx, ctx, task.id, { userId })) canceled.push(task.id);
  }
  return canceled;
}

/** A compose's image, disk image and update-test tasks, oldest first, with the variant and architecture each makes and the builder that holds or held it. */
export async function composeImageTasks(db: Kysely<Database>, composeId: string) {
  const prefix = composeImageLabelPrefix(composeId);
  const rows = await db
    .selectFrom("tasks")
    .leftJoin("hosts", "hosts.id", "tasks.host_id")
    .select(["tasks.id", "tasks.label", "tasks.method", "tasks.state", "tasks.arch", "hosts.name as host"])
    .where("tasks.method", "in", [...composeTaskMethods])
    .where("tasks.label", "like", `${prefix}%`)
    .orderBy("tasks.id")
    .execute();
  return rows.flatMap((r) => {
    if (!r.label?.startsWith(prefix)) return [];
    const [variant = "", arch = r.arch ?? ""] = r.label.slice(prefix.length).split(":");
    return [{ id: r.id, method: r.method, variant, arch, state: r.state, host: r.host }];
  });
}
