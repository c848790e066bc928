import type { BuildView } from "../api/builds.js";
import type { TaskDetail } from "../api/tasks.js";
import type { HubClient } from "./hub-client.js";
import { HubEvents, TERMINAL_TASK_STATES, type WatchTaskOptions, watchTask } from "./task-watch.js";

/**
 * Building a batch level by level, shared by `chain-build` and the compose's build section: the levels
 * (debian's buildOrder) one after another, the sources of one level in parallel; a level starts once every
 * build of the one before it is tagged and its repository regenerated (its task closed), and the batch
 * stops after the first level with a failure. How a source is started is the caller's (upload and submit,
 * reuse, tag); following it is shared: when the hub already builds the same source and version (another
 * submission got there first, BUILD_EXISTS), that build is followed instead of failing. Ends with one entry
 * per source for the summary.
 */
export interface BatchItem {
  source: string;
  version: string;
}

export interface BatchEntry {
  source: string;
  version: string;
  /** 1-based level. */
  level: number;
  /**
   * built: built by this batch; already-built: complete before it; followed: another submission's build of
   * the same version, followed to its end; not-submitted: after a failed level (or interrupted first).
   */
  outcome: "built" | "already-built" | "followed" | "failed" | "canceled" | "not-submitted";
  task: number | null;
  build: number | null;
  /** The build's state on the hub (complete, failed, ...), when it has a build. */
  state: string | null;
  /** Why it failed (the hub's one-line answer). */
  reason?: string;
}

/** What starting a source gave: a task to follow to its end, or nothing left to do. */
export interface BatchStart {
  /** A build task, or another step to wait for (the newRepo of a tagging); none when the build is ready. */
  task?: number;
  /** What the source is when that task closes (or at once, without a task). */
  as: "built" | "already-built" | "followed";
  /** The build, when known already. */
  build?: number;
}

export interface BatchHooks<T extends BatchItem> {
  start(item: T, signal: AbortSignal): Promise<BatchStart>;
  /** Before following another submission's build of the same source and version (may refuse by throwing). */
  beforeFollowing?(item: T, other: BuildView): Promise<void>;
  /** Per-source watch callbacks (task states, log tails). */
  watch?(item: T, task: number): Pick<WatchTaskOptions, "onChange" | "onRead" | "capMs">;
  /** Progress lines: a level starts, a task is followed, a source ends. */
  progress?(line: string): void;
}

export interface BatchResult<T extends BatchItem> {
  entries: BatchEntry[];
  /** The entry of each item, by source name. */
  items: Map<string, { item: T; entry: BatchEntry }>;
  /** The level that failed (1-based), when one did. */
  failedLevel?: number;
}

export async function runBatch<T extends BatchItem>(
  client: HubClient,
  levels: readonly (readonly T[])[],
  hooks: BatchHooks<T>,
  options: { signal?: AbortSignal } = {},
): Promise<BatchResult<T>> {
  const progress = hooks.progress ?? (() => {});
  const items = new Map<string, { item: T; entry: BatchEntry }>();
  levels.forEach((level, i) => {
    for (const item of level)
      items.set(item.source, {
        item,
        entry: { source: item.source, version: item.version, level: i + 1, outcome: "not-submitted", task: null, build: null, state: null },
      });
  });
  const events = new HubEvents(client);
  let failedLevel: number | undefined;
  try {
    for (const [i, level] of levels.entries()) {
      if (options.signal?.aborted) break;
      progress(`level ${i + 1}: ${level.map((s) => s.source).join(", ")}`);
      // an error in one source (a refused upload, a changed source) stops following the others of its level
      const broken = new AbortController();
      const signal = options.signal ? AbortSignal.any([options.signal, broken.signal]) : broken.signal;
      const outcomes = await Promise.allSettled(
        level.map((item) =>
          runOne(client, item, items.get(item.source)!.entry, hooks, events, signal).catch((error: unknown) => {
            broken.abort();
            throw error;
          }),
        ),
      );
      const rejected = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
      if (rejected) throw rejected.reason;
      if (level.some((item) => !succeeded(items.get(item.source)!.entry))) {
        failedLevel = i + 1;
        break;
      }
    }
  } finally {
    await events.close();
  }
  return {
    entries: levels.flat().map((item) => items.get(item.source)!.entry),
    items,
    ...(failedLevel !== undefined ? { failedLevel } : {}),
  };
}

/** Whether a source ended built (by this batch, before it, or by another submission). */
export function succeeded(entry: BatchEntry): boolean {
  return entry.outcome === "built" || entry.outcome === "already-built" || entry.outcome === "followed";
}

async function runOne<T extends BatchItem>(
  client: HubClient,
  item: T,
  entry: BatchEntry,
  hooks: BatchHooks<T>,
  events: HubEvents,
  signal: AbortSignal,
): Promise<void> {
  const progress = hooks.progress ?? (() => {});
  const name = `${item.source} ${item.version}`;
  const started = await hooks.start(item, signal);
  let as = started.as;
  let task = started.task;
  if (started.build !== undefined) entry.build = started.build;
  let final: TaskDetail | undefined;
  while (task !== undefined) {
    entry.task = task;
    progress(`${name}: ${as === "followed" ? "following " : ""}task ${task}`);
    final = await watchTask(client, task, { ...hooks.watch?.(item, task), events, signal });
    if (!TERMINAL_TASK_STATES.has(final.state)) return; // interrupted: left as not-submitted
    if (final.state === "failed" && final.error?.code === "BUILD_EXISTS") {
      const other = await client.findBuild(item.source, item.version);
      if (other?.task && other.task !== task) {
        await hooks.beforeFollowing?.(item, other);
        task = other.task;
        as = "followed";
        continue;
      }
    }
    break;
  }
  if (final && final.state !== "closed") {
    entry.outcome = final.state === "canceled" ? "canceled" : "failed";
    entry.reason = (await client.whyTask(final.id)).reason;
  } else entry.outcome = as;
  entry.build = final?.build ?? entry.build;
  // a tagging's newRepo task names no build
  if (entry.build === null && succeeded(entry)) entry.build = (await client.findBuild(item.source, item.version))?.id ?? null;
  entry.state = entry.build === null ? (final?.state ?? null) : (await client.getBuild(entry.build)).state;
  progress(`${name}: ${entry.outcome}${entry.build !== null ? ` (build ${entry.build})` : ""}`);
}
