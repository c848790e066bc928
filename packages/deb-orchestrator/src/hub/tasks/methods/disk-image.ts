import { type DiskImageRequest, diskImageRequest } from "../../../api/tasks.js";
import { orchestratorError } from "../../../errors.js";
import type { Principal } from "../../auth.js";
import { runningCompose } from "../../catalog/composes.js";
import type { HubContext } from "../../context.js";
import { composeImageLabel, insertComposeTask } from "./compose-image.js";

/**
 * Queue a compose's disk images for one variant and architecture as a diskImage task (only a builder with
 * the `image` capability claims it), once its composeImage task made the commit and the client signed it.
 * The compose must be recorded, running and the caller's; the repository tar must be in the artifact
 * store (it is the composeImage task's own result file: nothing is uploaded again). Its label carries the
 * compose's prefix, so the compose's page lists it and the compose's end cancels it.
 */
export async function queueDiskImage(ctx: HubContext, principal: Principal, input: DiskImageRequest): Promise<number> {
  const parsed = diskImageRequest.safeParse(input);
  if (!parsed.success)
    throw orchestratorError(
      "REQUEST_INVALID",
      `diskImage request: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`,
    );
  const request = parsed.data;
  const compose = await runningCompose(ctx.db, principal, request.compose);
  if (!(await ctx.store.has(request.commit.repository.sha256)))
    throw orchestratorError("ARTIFACT_MISSING", `repository tar (${request.commit.repository.sha256}) is not in the store`, {
      hint: "it is the composeImage task's ostree-commit file, or PUT it to /api/v1/artifacts/<sha256> first",
    });
  return insertComposeTask(ctx, principal, compose, { method: "diskImage", label: `${composeImageLabel(request)}:disk`, request });
}
