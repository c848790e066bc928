import { buildOrder, readDsc, type SourceControl } from "@debian-bootc/debian";
import { orchestratorError } from "../errors.js";
import type { HubClient } from "./hub-client.js";
import { HubEvents, watchTask } from "./task-watch.js";

/**
 * A batch build (`chain-build`): sources that build-depend on each other's binaries are built level by
 * level in their build order (debian's buildOrder), the sources of one level in parallel; a level waits
 * until every build of the one before it is tagged and its repository regenerated (the build task
 * closed), and the batch stops at the first level with a failure. A cycle is found before anything is
 * uploaded. A source whose build (same name and version) is already complete is not built again.
 */
export interface ChainSource {
  /** The .dsc and every file it lists. */
  dsc: string;
  files: string[];
}

export interface ChainEntry {
  source: string;
  version: string;
  /** 1-based level. */
  level: number;
  /** built: built by this batch; already-built: complete before it; not-submitted: after a failed level. */
  outcome: "built" | "already-built" | "failed" | "canceled" | "not-submitted";
  task: number | null;
  build: number | null;
  /** The build's state on the hub (complete, failed, ...), when it has a build. */
  state: string | null;
  /** Why it failed (the hub's one-line answer). */
  reason?: string;
}

export interface ChainResult {
  target: string;
  arch: string;
  levels: string[][];
  entries: ChainEntry[];
  ok: boolean;
  /** The level that failed (1-based), when one did. */
  failedLevel?: number;
}

export interface ChainOptions {
  /** Architecture to read Build-Depends for (default: the target's build tag's first). */
  arch?: string;
  priority?: number;
  signal?: AbortSignal;
  /** Progress: a level starts, a build task is created, a task reaches a terminal state. */
  onProgress?: (line: string) => void;
}

/** Reads the .dscs and finds the build order (raising BUILD_DEPENDENCY_CYCLE before anything is submitted). */
export async function planChain(
  sources: readonly ChainSource[],
  arch: string,
): Promise<{ levels: string[][]; controls: Map<string, SourceControl>; inputs: Map<string, ChainSource> }> {
  const read = await Promise.all(sources.map((s) => readDsc(s.dsc)));
  const order = buildOrder(read, { arch });
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
  const progress = options.onProgress ?? (() => {});
  const targetView = (await client.listTargets()).find((t) => t.name === target);
  if (!targetView) throw orchestratorError("NOT_FOUND", `target '${target}' does not exist`, { hint: "see deb-orchestrator list-targets" });
  const arch = options.arch ?? (await client.getTag(targetView.buildTag)).arches[0];
  if (!arch) throw orchestratorError("REQUEST_INVALID", `tag '${targetView.buildTag}' has no architectures`);
  const { levels, controls, inputs } = await planChain(sources, arch);
  const entries = new Map<string, ChainEntry>();
  levels.forEach((level, i) => {
    for (const name of level) {
      const c = controls.get(name)!;
      entries.set(name, { source: name, version: c.version, level: i + 1, outcome: "not-submitted", task: null, build: null, state: null });
    }
  });
  const events = new HubEvents(client);
  let failedLevel: number | undefined;
  try {
    for (const [i, level] of levels.entries()) {
      progress(`level ${i + 1}: ${level.join(", ")}`);
      await Promise.all(
        level.map(async (name) => {
          const entry = entries.get(name)!;
          const existing = await client.findBuild(entry.source, entry.version);
          if (existing?.state === "complete") {
            Object.assign(entry, { outcome: "already-built", task: existing.task, build: existing.id, state: existing.state });
            progress(`${name} ${entry.version}: already built (build ${existing.id})`);
            return;
          }
          const { task } = await client.submitSource(
            target,
            inputs.get(name)!,
            options.priority !== undefined ? { priority: options.priority } : {},
          );
          entry.task = task;
          progress(`${name} ${entry.version}: task ${task}`);
          const final = await watchTask(client, task, { events, ...(options.signal ? { signal: options.signal } : {}) });
          entry.build = final.build;
          entry.state = final.build === null ? final.state : (await client.getBuild(final.build)).state;
          if (final.state === "closed") entry.outcome = "built";
          else {
            entry.outcome = final.state === "canceled" ? "canceled" : "failed";
            entry.reason = (await client.whyTask(task)).reason;
          }
          progress(`${name} ${entry.version}: ${entry.outcome}${entry.build !== null ? ` (build ${entry.build})` : ""}`);
        }),
      );
      if (level.some((name) => !["built", "already-built"].includes(entries.get(name)!.outcome))) {
        failedLevel = i + 1;
        break;
      }
      if (options.signal?.aborted) break;
    }
  } finally {
    await events.close();
  }
  const list = levels.flat().map((name) => entries.get(name)!);
  return {
    target,
    arch,
    levels,
    entries: list,
    ok: failedLevel === undefined && list.every((e) => e.outcome === "built" || e.outcome === "already-built"),
    ...(failedLevel !== undefined ? { failedLevel } : {}),
  };
}
