import { type ComposeImageRequest, composeImageRequest } from "../../../api/tasks.js";
import { orchestratorError } from "../../../errors.js";
import type { Principal } from "../../auth.js";
import { runningCompose } from "../../catalog/composes.js";
import type { HubContext } from "../../context.js";
import * as transition from "../transitions.js";
import { DEFAULT_PRIORITY } from "./build.js";

/**
 * Queue a compose's image phases for one variant and architecture as a composeImage task, which only a
 * builder with the `image` capability claims. The compose must be recorded, running and the caller's;
 * every snapshot file must be in the artifact store, each path once. The request is checked against its
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
  const paths = new Set<string>();
  for (const file of request.snapshot) {
    if (paths.has(file.path)) throw orchestratorError("PATH_INVALID", `snapshot file '${file.path}' is listed twice`);
    paths.add(file.path);
  }
  for (const file of request.snapshot)
    if (!(await ctx.store.has(file.sha256)))
      throw orchestratorError("ARTIFACT_MISSING", `snapshot file '${file.path}' (${file.sha256}) has not been uploaded`, {
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
