import { isCodedError } from "@debian-bootc/core";
import type { HubClient } from "@debian-bootc/deb-orchestrator";
import { composeError } from "../errors.js";

/**
 * The target's build and destination tags; a missing target is created (with its tags: the build tag for
 * the definition's arches, the destination tag inheriting from it), as `deb-orchestrator add-tag` and
 * `add-target` would.
 */
export async function ensureTarget(
  client: HubClient,
  spec: { target: string; buildTag?: string; destTag?: string; arches: readonly string[] },
  log: (msg: string, data: object) => void,
): Promise<{ buildTag: string; destTag: string; created: boolean }> {
  const targets = await client.listTargets();
  const existing = targets.find((t) => t.name === spec.target);
  if (existing) return { buildTag: existing.buildTag, destTag: existing.destTag, created: false };
  const buildTag = spec.buildTag ?? `${spec.target}-build`;
  const destTag = spec.destTag ?? spec.target;
  try {
    if (!(await client.findTag(buildTag))) await client.createTag(buildTag, { arches: [...spec.arches] });
    if (!(await client.findTag(destTag))) await client.createTag(destTag, { arches: [...spec.arches], parents: [buildTag] });
    await client.createTarget({ name: spec.target, buildTag, destTag });
  } catch (error) {
    if (isCodedError(error))
      throw composeError("ORCHESTRATOR_FAILED", `target ${spec.target} does not exist on the hub and cannot be created: ${error.message}`, {
        cause: error,
        hint: `create it with deb-orchestrator add-tag ${buildTag}; add-tag ${destTag} --parent ${buildTag}; add-target ${spec.target} ${buildTag} ${destTag} (or use a token with the tag permission)`,
      });
    throw error;
  }
  log("created the target and its tags", { target: spec.target, buildTag, destTag });
  return { buildTag, destTag, created: true };
}
