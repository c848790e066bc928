import { buildOrderAcross, readDsc, type SourceControl } from "@debian-bootc/debian";
import { orchestratorError } from "../errors.js";
import { type BatchEntry, runBatch, succeeded } from "./batch-build.js";
import type { HubClient } from "./hub-client.js";

/**
 * A batch build (`chain-build`): the sources are read and put in their build order (debian's buildOrder,
 * a cycle found before anything is uploaded), then built level by level by the shared batch runner
 * (batch-build.ts). A source whose build (same name and version) is complete already is not built again;
 * one the hub is building already (another submission) is followed to its end.
 */
export interface ChainSource {
  /** The .dsc and every file it lists. */
  dsc: string;
  files: string[];
}

export type ChainEntry = BatchEntry;

export interface ChainResult {
  target: string;
  /** The architectures the order was found for. */
  arches: string[];
  levels: string[][];
  entries: ChainEntry[];
  ok: boolean;
  /** The level that failed (1-based), when one did. */
  failedLevel?: number;
}

export interface ChainOptions {
  /** Architecture to read Build-Depends for (default: every architecture of the target's build tag). */
  arch?: string;
  priority?: number;
  signal?: AbortSignal;
  /** Progress: a level starts, a build task is created or followed, a source ends. */
  onProgress?: (line: string) => void;
}

/** Reads the .dscs and finds the build order (raising BUILD_DEPENDENCY_CYCLE before anything is submitted). */
export async function planChain(
  sources: readonly ChainSource[],
  arches: readonly string[],
): Promise<{ levels: string[][]; controls: Map<string, SourceControl>; inputs: Map<string, ChainSource> }> {
  const read = await Promise.all(sources.map((s) => readDsc(s.dsc)));
  // a source waits for another when any architecture's build needs it
  const order = buildOrderAcross(read, arches, {});
  const controls = new Map(read.map((c) => [c.source, c]));
  const inputs = new Map(read.map((c, i) => [c.source, sources[i]!]));
  return { levels: order.levels.map((l) => [...l]), controls, inputs };
}

export async function chainBuild(
  client: HubClient,
  target: string,
  sources: readonly ChainSource[],
  options: ChainOptions = {},
): Promise<ChainResult> {
  const targetView = (await client.listTargets()).find((t) => t.name === target);
  if (!targetView) throw orchestratorError("NOT_FOUND", `target '${target}' does not exist`, { hint: "see deb-orchestrator list-targets" });
  const arches = options.arch ? [options.arch] : (await client.getTag(targetView.buildTag)).arches;
  if (arches.length === 0) throw orchestratorError("REQUEST_INVALID", `tag '${targetView.buildTag}' has no architectures`);
  const { levels, controls, inputs } = await planChain(sources, arches);
  const batch = levels.map((level) => level.map((name) => ({ source: name, version: controls.get(name)!.version })));
  const result = await runBatch(
    client,
    batch,
    {
      async start(item) {
        const existing = await client.findBuild(item.source, item.version);
        if (existing?.state === "complete") return { as: "already-built", build: existing.id };
        if (existing?.state === "building" && existing.task !== null) return { as: "followed", task: existing.task, build: existing.id };
        const { task } = await client.submitSource(inputs.get(item.source)!, {
          target,
          ...(options.priority !== undefined ? { priority: options.priority } : {}),
        });
        return { as: "built", task };
      },
      ...(options.onProgress ? { progress: options.onProgress } : {}),
    },
    options.signal ? { signal: options.signal } : {},
  );
  return {
    target,
    arches: [...arches],
    levels,
    entries: result.entries,
    ok: result.failedLevel === undefined && result.entries.every(succeeded),
    ...(result.failedLevel !== undefined ? { failedLevel: result.failedLevel } : {}),
  };
}
