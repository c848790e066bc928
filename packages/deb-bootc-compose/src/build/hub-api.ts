import { CodedError, isCodedError } from "@debian-bootc/core";
import type { BuildView, HubClient, TagView, TaskDetail, WhyAnswer } from "@debian-bootc/deb-orchestrator";
import { composeError } from "../errors.js";

/** The hub's calls the build phase makes, over deb-orchestrator's client and answer types. */

/** A build as the hub describes it (GET /api/v1/builds/:ref). */
export type BuildInfo = BuildView;
export type { TaskDetail };

function notFound(error: unknown): boolean {
  return error instanceof CodedError && error.category === "not-found";
}

/** A build by name and version, or undefined when the hub has none. */
export async function findBuild(client: HubClient, name: string, version: string): Promise<BuildInfo | undefined> {
  try {
    return await client.get<BuildInfo>(`/api/v1/builds/${encodeURIComponent(`${name}/${version}`)}`);
  } catch (error) {
    if (notFound(error)) return undefined;
    throw error;
  }
}

export async function findTag(client: HubClient, name: string): Promise<TagView | undefined> {
  try {
    return await client.get<TagView>(`/api/v1/tags/${encodeURIComponent(name)}`);
  } catch (error) {
    if (notFound(error)) return undefined;
    throw error;
  }
}

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
  const targets = await client.get<{ name: string; buildTag: string; destTag: string }[]>("/api/v1/targets");
  const existing = targets.find((t) => t.name === spec.target);
  if (existing) return { buildTag: existing.buildTag, destTag: existing.destTag, created: false };
  const buildTag = spec.buildTag ?? `${spec.target}-build`;
  const destTag = spec.destTag ?? spec.target;
  try {
    if (!(await findTag(client, buildTag))) await client.post("/api/v1/tags", { name: buildTag, arches: [...spec.arches] });
    if (!(await findTag(client, destTag)))
      await client.post("/api/v1/tags", { name: destTag, arches: [...spec.arches], parents: [buildTag] });
    await client.post("/api/v1/targets", { name: spec.target, buildTag, destTag });
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

export function getTask(client: HubClient, id: number): Promise<TaskDetail> {
  return client.get<TaskDetail>(`/api/v1/tasks/${id}`);
}

export function whyTask(client: HubClient, id: number): Promise<WhyAnswer> {
  return client.get<WhyAnswer>(`/api/v1/tasks/${id}/why`);
}
