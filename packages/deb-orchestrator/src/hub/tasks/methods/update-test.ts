import { type UpdateTestRequest, updateTestRequest } from "../../../api/tasks.js";
import { orchestratorError } from "../../../errors.js";
import type { Principal } from "../../auth.js";
import { runningCompose } from "../../catalog/composes.js";
import type { HubContext } from "../../context.js";
import { composeImageLabel, insertComposeTask } from "./compose-image.js";

/**
 * Queue a compose's A/B update boot test for one variant and architecture as an updateTest task (only a
 * builder with the `image` capability claims it). The compose must be recorded, running and the caller's;
 * the previous image and the repository tar must be in the artifact store. The request is checked against
 * its schema here as well as at the API's edge: its names become paths on the builder. Its label carries
 * the compose's prefix, so the compose's page lists it and the compose's end cancels it.
 */
export async function queueUpdateTest(ctx: HubContext, principal: Principal, input: UpdateTestRequest): Promise<number> {
  const parsed = updateTestRequest.safeParse(input);
  if (!parsed.success)
    throw orchestratorError(
      "REQUEST_INVALID",
      `updateTest request: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`,
    );
  const request = parsed.data;
  const compose = await runningCompose(ctx.db, principal, request.compose);
  for (const [what, sha256] of [
    [`image '${request.image.name}'`, request.image.sha256],
    ["repository tar", request.repository.sha256],
  ] as const)
    if (!(await ctx.store.has(sha256)))
      throw orchestratorError("ARTIFACT_MISSING", `${what} (${sha256}) has not been uploaded`, {
        hint: "PUT it to /api/v1/artifacts/<sha256> first",
      });
  return insertComposeTask(ctx, principal, compose, { method: "updateTest", label: `${composeImageLabel(request)}:update`, request });
}
