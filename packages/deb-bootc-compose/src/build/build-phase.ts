import { createReadStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { type Logger, writeFileAtomic } from "@debian-bootc/core";
import {
  type BatchEntry,
  type BatchItem,
  type BatchResult,
  type BuildView,
  type HubClient,
  readTaskLog,
  runBatch,
  type TaskDetail,
  TERMINAL_TASK_STATES,
  type WatchTaskOptions,
} from "@debian-bootc/deb-orchestrator";
import { defaultMirror } from "@debian-bootc/debian";
import type { Phase, PhaseContext } from "../compose/phase-engine.js";
import type { ON_INTERRUPT } from "../definition.js";
import { composeError } from "../errors.js";
import { ensureTarget } from "./hub-api.js";
import type { HubMode, OrchestratorConnection } from "./orchestrator-connection.js";
import { compareSource, type PreparedFile } from "./source-check.js";
import { orderSources } from "./source-order.js";
import { type IdentifiedSource, identifySources, type MaterializedSource, materializeSource, preparedSourceFiles } from "./source-prep.js";

/**
 * The build phase (before pkgset): every source of the definition's build section is built by
 * deb-orchestrator into the target's destination tag, unless the hub has that source and version built
 * already (then it is reused: tagged into the destination tag if it is not there yet). As Koji keeps one
 * build per NVR, the hub keeps one per source and version: a tree or .dsc whose files differ from those
 * the hub recorded for that build is refused (BUILD_SOURCE_CHANGED), never reused. Tasks are followed
 * live; a failed build stops the compose with the hub's `why` and the tail of the build log. The
 * destination tag's signed repository (a numbered, immutable regeneration) becomes an input repository of
 * the pkgset phase, the built binaries are pinned there, and compose/metadata/builds.json records where
 * each package came from (build, task, buildroot).
 */

/** A binary of a build, as the hub lists it. */
export type BuiltBinary = BuildView["binaries"][number];

export interface BuildRecord {
  /** Index in build.sources. */
  index: number;
  kind: IdentifiedSource["kind"];
  ref: string;
  source: string;
  version: string;
  /** The hub's build ID and its top task. */
  buildId: number;
  task: number | null;
  /** True when the hub had the build already (nothing was built for this compose). */
  reused: boolean;
  /** Per architecture: the buildArch task, the builder that ran it, and the buildroot (environment) ID. */
  arches: { arch: string; task: number | null; host: string | null; buildroot: number | null }[];
  binaries: BuiltBinary[];
}

export interface BuildState {
  hub: { url: string; mode: HubMode; dataDir?: string };
  target: string;
  buildTag: string;
  destTag: string;
  /** The destination tag's repository as the pkgset phase reads it. */
  repository: { name: string; url: string; suite: string; components: string[]; number: number; key: string };
  builds: BuildRecord[];
}

export type BuildEvent =
  | { phase: "build"; kind: "hub"; url: string; mode: HubMode }
  | {
      phase: "build";
      kind: "source";
      name: string;
      version: string;
      action: "reused" | "submitted" | "following" | "tagging";
      task?: number;
    }
  | { phase: "build"; kind: "task"; source: string; task: number; method: string; arch: string | null; state: string; host: string | null }
  | { phase: "build"; kind: "log"; source: string; task: number; line: string }
  | { phase: "build"; kind: "built"; name: string; version: string; buildId: number; reused: boolean };

export interface BuildPhaseOptions {
  baseDir: string;
  /** How to reach the orchestrator (the compose verb makes one and closes it at the end). */
  orchestrator?: OrchestratorConnection;
  /** Mirror of the archive sources (default: the definition's Debian repository's, else the host's). */
  mirror?: string;
  /** Shared cache (the compose's --cache-dir): the archive's Sources index is kept there. */
  cacheDir?: string;
  /** Overrides build.onInterrupt. */
  onInterrupt?: (typeof ON_INTERRUPT)[number];
}

/** One source being brought to a complete, tagged build. */
interface Pending {
  source: IdentifiedSource;
  /** The task followed (a build, or a newRepo after tagging a reused build). */
  task?: number;
  /** This compose submitted the task (so it may cancel it). */
  ours: boolean;
  reused: boolean;
  /** The source's files as prepared for the comparison with the hub's build, or as submitted. */
  prepared?: PreparedFile[];
  logTask?: number;
  logOffset: number;
  logLine: string;
  /** The followed task as last read. */
  last?: TaskDetail;
}

function lastLine(text: string): string | undefined {
  const lines = text.split(/\r?\n|\r/).filter((l) => l.trim() !== "");
  return lines.at(-1)?.slice(0, 200);
}

async function buildFailure(client: HubClient, source: IdentifiedSource, entry: BatchEntry): Promise<Error> {
  const task = entry.task!;
  const why = await client.whyTask(task).catch(() => undefined);
  const details = (why?.details ?? {}) as { buildLogTail?: string; failure?: { relation?: string; step?: string } };
  const tail = (details.buildLogTail ?? "").split("\n").slice(-25).join("\n").trimEnd();
  const reason = why?.reason ?? entry.reason ?? `task ${task} ${entry.outcome}`;
  return composeError(
    "ORCHESTRATOR_BUILD_FAILED",
    `build.sources[${source.index}] ${source.name} ${source.version}: ${reason}${tail ? `\n--- end of build.log ---\n${tail}` : ""}`,
    {
      hint: `deb-orchestrator why ${task} (or the web UI: /tasks/${task})`,
      details: { source: source.name, version: source.version, task, ...(details.failure ? { failure: details.failure } : {}) },
    },
  );
}

export function createBuildPhase(options: BuildPhaseOptions): Phase {
  return {
    name: "build",
    async run(ctx) {
      const build = ctx.definition.build;
      if (!build) {
        ctx.logger.info({}, "the definition has no build section: nothing to build");
        return;
      }
      if (!options.orchestrator)
        throw composeError("ORCHESTRATOR_FAILED", "the build phase was given no orchestrator connection", {
          hint: "pass an OrchestratorConnection in the compose phase options (the compose verb does)",
        });
      const emit = (event: BuildEvent) => ctx.emit(event);
      const hub = await options.orchestrator.open(ctx.definition, options.baseDir, ctx.logger);
      emit({ phase: "build", kind: "hub", url: hub.url, mode: hub.mode });
      const { client } = hub;
      const log = (msg: string, data: object) => ctx.logger.info(data, msg);
      const target = await ensureTarget(client, { ...build, arches: ctx.definition.arches }, log);

      const debian = ctx.definition.repositories.find((r) => r.type === "debian");
      const mirror = (debian?.type === "debian" ? debian.mirror : undefined) ?? options.mirror ?? (await defaultMirror());
      const workDir = join(ctx.composeDir, "work", "build");
      await mkdir(workDir, { recursive: true });
      const sourceCtx = {
        definition: ctx.definition,
        baseDir: options.baseDir,
        mirror,
        workDir,
        ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
        logger: ctx.logger,
        signal: ctx.signal,
      };
      // level by level in build order (the batch runner chain-build uses): a source that needs another's
      // binaries is submitted once that one is built and tagged; a cycle stops here, before any submission
      const levels = await orderSources(await identifySources(sourceCtx, build.sources), ctx.definition.arches);
      if (levels.length > 1) await checkLaterLevelsSeeEarlier(client, target, levels);
      const pendings = new Map<string, Pending>();
      const onInterrupt = options.onInterrupt ?? build.onInterrupt;
      let result: BatchResult<BatchItem & { identified: IdentifiedSource }> | undefined;
      try {
        result = await runBatch(
          client,
          levels.map((level) => level.map((s) => ({ source: s.name, version: s.version, identified: s }))),
          {
            async start(item, signal) {
              signal.throwIfAborted();
              const p = await startOne(ctx, client, item.identified, target.destTag, build.target, sourceCtx, emit);
              pendings.set(item.source, p);
              if (p.reused) return p.task !== undefined ? { as: "already-built", task: p.task } : { as: "already-built" };
              return { as: p.ours ? "built" : "followed", task: p.task! };
            },
            async beforeFollowing(item, other) {
              // a second compose submitted the same source and version at the same moment: follow that build
              const p = pendings.get(item.source)!;
              if (p.prepared) await checkSameSource(ctx.logger, client, p.source, p.prepared, other);
              ctx.logger.info({ source: item.source, task: other.task }, "another submission builds it: following that one");
              p.ours = false;
            },
            watch: (item, task) => watchHooks(ctx, client, pendings.get(item.source)!, task, emit),
            progress: (line) => ctx.logger.info({}, line),
          },
          { signal: ctx.signal },
        );
      } finally {
        if (ctx.signal.aborted) await leaveOrCancel(ctx, client, [...pendings.values()], onInterrupt, hub);
      }
      ctx.signal.throwIfAborted();
      // one summary, shown with the phase's end: each source's level, what became of it, its build and task
      for (const e of result.entries)
        ctx.emit({
          phase: "build",
          kind: "note",
          text: `level ${e.level}: ${e.source} ${e.version} ${e.outcome.replace("-", " ")}${e.build !== null ? `, build ${e.build}` : ""}${e.task !== null ? `, task ${e.task}` : ""}${e.reason ? `: ${e.reason}` : ""}`,
        });
      const failed = result.entries.find((e) => e.outcome === "failed" || e.outcome === "canceled");
      if (failed) throw await buildFailure(client, pendings.get(failed.source)!.source, failed);

      const records: BuildRecord[] = [];
      for (const p of levels.flat().map((source) => pendings.get(source.name)!)) {
        const info = await client.findBuild(p.source.name, p.source.version);
        if (info?.state !== "complete")
          throw composeError(
            "ORCHESTRATOR_BUILD_FAILED",
            `${p.source.name} ${p.source.version}: the hub says the build is ${info?.state ?? "missing"}`,
          );
        if (!info.tags.includes(target.destTag))
          throw composeError(
            "ORCHESTRATOR_BUILD_FAILED",
            `${p.source.name} ${p.source.version}: build ${info.id} is not in tag ${target.destTag}`,
          );
        records.push(await recordOf(client, p, info));
        emit({ phase: "build", kind: "built", name: info.name, version: info.version, buildId: info.id, reused: p.reused });
      }
      const tag = await client.findTag(target.destTag);
      if (!tag?.repo) throw composeError("ORCHESTRATOR_BUILD_FAILED", `tag ${target.destTag} has no repository yet`);
      // read once, with the compose's token: the pkgset phase takes the repository and its key from here
      const key = await client.repoKey();
      const state: BuildState = {
        hub: { url: hub.url, mode: hub.mode, ...(hub.dataDir ? { dataDir: hub.dataDir } : {}) },
        target: build.target,
        buildTag: target.buildTag,
        destTag: target.destTag,
        repository: {
          name: `orchestrator-${target.destTag}`,
          url: `${hub.url}/repos/${target.destTag}/${tag.repo.number}`,
          suite: target.destTag,
          components: ["main"],
          number: tag.repo.number,
          key,
        },
        builds: records,
      };
      ctx.state.set("build", state);
      await writeBuildsMetadata(ctx, state);
      ctx.logger.info(
        { builds: records.length, reused: records.filter((r) => r.reused).length, repository: state.repository.url },
        "builds ready",
      );
    },
  };
}

/**
 * A later level installs what an earlier one built from the build tag's repository: that holds the
 * destination tag's builds only when it is the destination tag or inherits it. Otherwise the later level
 * would wait (dep-wait) for ever, so the phase stops before submitting anything.
 */
async function checkLaterLevelsSeeEarlier(
  client: HubClient,
  target: { buildTag: string; destTag: string },
  levels: readonly (readonly IdentifiedSource[])[],
): Promise<void> {
  const { inheritance } = await client.getTag(target.buildTag);
  if (inheritance.includes(target.destTag)) return;
  const later = levels.slice(1).flat();
  throw composeError(
    "BUILD_TAG_UNSEEN",
    `${later.map((s) => `build.sources[${s.index}] ${s.name}`).join(", ")} build-depend${later.length === 1 ? "s" : ""} on binaries of ${levels[0]!.map((s) => s.name).join(", ")}, but build tag ${target.buildTag} (inheritance: ${inheritance.join(", ")}) does not see destination tag ${target.destTag}, where those builds land`,
    {
      hint: `set build.buildTag and build.destTag to the same tag, or use a build tag that inherits ${target.destTag} (deb-orchestrator edit-tag ${target.buildTag} --parent ${target.destTag}, with ${target.destTag} no longer inheriting it)`,
      details: { buildTag: target.buildTag, destTag: target.destTag, inheritance: [...inheritance] },
    },
  );
}

async function startOne(
  ctx: PhaseContext,
  client: HubClient,
  source: IdentifiedSource,
  destTag: string,
  target: string,
  sourceCtx: Parameters<typeof materializeSource>[0],
  emit: (event: BuildEvent) => void,
): Promise<Pending> {
  const pending: Pending = { source, ours: false, reused: false, logOffset: 0, logLine: "" };
  const existing = await client.findBuild(source.name, source.version);
  const base = { phase: "build" as const, kind: "source" as const, name: source.name, version: source.version };
  let materialized: MaterializedSource | undefined;
  if (existing?.state === "complete" || existing?.state === "building") {
    // the hub keeps one build per source and version: a different source under that version is refused
    const prepared = await preparedSourceFiles(sourceCtx, source);
    if (prepared) {
      await checkSameSource(ctx.logger, client, source, prepared.files, existing);
      pending.prepared = prepared.files;
      materialized = prepared.materialized;
    }
  }
  if (existing?.state === "complete") {
    pending.reused = true;
    if (existing.tags.includes(destTag)) {
      ctx.logger.info({ source: source.name, version: source.version, build: existing.id }, "reusing the hub's build");
      emit({ ...base, action: "reused" });
      return pending;
    }
    const { repoTask } = await client.tagBuild(destTag, `${source.name}/${source.version}`);
    ctx.logger.info({ source: source.name, build: existing.id, tag: destTag, repoTask }, "reusing the hub's build: tagged it");
    emit({ ...base, action: "tagging", ...(repoTask ? { task: repoTask } : {}) });
    if (repoTask) {
      pending.task = repoTask;
      pending.ours = true;
    }
    return pending;
  }
  if (existing?.state === "building" && existing.task !== null) {
    ctx.logger.info({ source: source.name, version: source.version, task: existing.task }, "the hub is building it already: following");
    emit({ ...base, action: "following", task: existing.task });
    pending.task = existing.task;
    return pending;
  }
  materialized ??= await materializeSource(sourceCtx, source);
  const files = [];
  for (const file of materialized.files) {
    ctx.signal.throwIfAborted();
    files.push(await client.uploadFile(file));
  }
  pending.prepared ??= files.map((f, i) => ({ ...f, read: () => createReadStream(materialized.files[i]!) }));
  const { task } = await client.submitBuild({ target, dsc: basename(materialized.dsc), files });
  ctx.logger.info({ source: source.name, version: source.version, task, files: files.length }, "build submitted");
  emit({ ...base, action: "submitted", task });
  pending.task = task;
  pending.ours = true;
  return pending;
}

/** Following one source's task: its tree's state changes as events, the build log's last line. */
function watchHooks(
  ctx: PhaseContext,
  client: HubClient,
  p: Pending,
  task: number,
  emit: (event: BuildEvent) => void,
): Pick<WatchTaskOptions, "onChange" | "onRead" | "capMs"> {
  p.task = task;
  return {
    capMs: 2000,
    onChange: (t) => {
      ctx.logger.info({ source: p.source.name, task: t.id, method: t.method, arch: t.arch, state: t.state, host: t.host }, "task state");
      emit({
        phase: "build",
        kind: "task",
        source: p.source.name,
        task: t.id,
        method: t.method,
        arch: t.arch,
        state: t.state,
        host: t.host,
      });
      if (t.method === "buildArch" && t.state === "open" && p.logTask !== t.id) {
        p.logTask = t.id;
        p.logOffset = 0;
      }
    },
    onRead: async (detail) => {
      p.last = detail;
      await tailLog(client, p, emit);
    },
  };
}

/** On an interruption: cancel the builds this compose submitted, or leave them to the hub (build.onInterrupt). */
async function leaveOrCancel(
  ctx: PhaseContext,
  client: HubClient,
  pendings: readonly Pending[],
  onInterrupt: (typeof ON_INTERRUPT)[number],
  hub: { url: string; mode: HubMode },
): Promise<void> {
  const running = pendings.filter((p) => p.ours && p.task !== undefined && !TERMINAL_TASK_STATES.has(p.last?.state ?? ""));
  for (const p of running) {
    if (onInterrupt === "cancel")
      await client.cancelTask(p.task!).then(
        () => ctx.logger.warn({ task: p.task, source: p.source.name }, "interrupted: build canceled"),
        (error) => ctx.logger.warn({ task: p.task, err: (error as Error).message }, "interrupted: cancel failed"),
      );
    else
      ctx.logger.warn(
        { task: p.task, source: p.source.name, hub: hub.url, mode: hub.mode },
        hub.mode === "embedded"
          ? "interrupted: build left to the hub; the embedded builder gives it back and the next compose resumes it"
          : "interrupted: build left running on the hub",
      );
  }
}

/** The build log's new bytes since the last read: its last line, when it changed, as an event. */
async function tailLog(client: HubClient, p: Pending, emit: (event: BuildEvent) => void): Promise<void> {
  if (p.logTask === undefined) return;
  const chunk = await readTaskLog(client, p.logTask, "build.log", p.logOffset).catch(() => undefined);
  if (!chunk || chunk.next <= p.logOffset) return;
  p.logOffset = chunk.next;
  const line = lastLine(chunk.text);
  if (line && line !== p.logLine) {
    p.logLine = line;
    emit({ phase: "build", kind: "log", source: p.source.name, task: p.logTask, line });
  }
}

/**
 * Refuse a source whose files differ from those the hub recorded for its build of the same name and
 * version (BUILD_SOURCE_CHANGED), as Koji refuses a second build of an NVR.
 */
async function checkSameSource(
  logger: Logger,
  client: HubClient,
  source: IdentifiedSource,
  prepared: readonly PreparedFile[],
  build: BuildView,
): Promise<void> {
  const verdict = await compareSource(prepared, build.source?.files ?? [], {
    byContent: source.kind === "path",
    readRecorded: (file) => readArtifact(client, file.sha256),
  });
  if (verdict.same) {
    logger.info(
      { source: source.name, version: source.version, build: build.id, by: verdict.by },
      verdict.by === "checksums"
        ? "the source is the one the hub built"
        : "the source is the one the hub built (same contents, packed differently)",
    );
    return;
  }
  throw sourceChangedError(source, build, verdict.changes);
}

async function* readArtifact(client: HubClient, sha256: string): AsyncIterable<Uint8Array> {
  const response = await client.open("downloadArtifact", { params: { sha256 } }, { timeoutMs: 10 * 60_000 });
  if (!response.body) return;
  yield* response.body as unknown as AsyncIterable<Uint8Array>;
}

export function sourceChangedError(source: IdentifiedSource, build: BuildView, changes: readonly string[]): Error {
  const shown = changes.slice(0, 15);
  if (changes.length > shown.length) shown.push(`... and ${changes.length - shown.length} more`);
  const what = source.kind === "path" ? `path ${source.ref}` : `dsc ${source.ref}`;
  const bump =
    source.kind === "path"
      ? `add a debian/changelog entry with a new version in ${source.ref} (dch -i)`
      : "give a source package with a new version";
  const remove =
    build.state === "building" && build.task !== null
      ? `deb-orchestrator cancel ${build.task}, then deb-orchestrator delete-build ${build.id}`
      : `deb-orchestrator delete-build ${source.name}/${source.version}`;
  const remedy = `${bump}, or delete the hub's build first (${remove})`;
  return composeError(
    "BUILD_SOURCE_CHANGED",
    `build.sources[${source.index}] (${what}): ${source.name} ${source.version} is not the source the hub built as build ${build.id} (${build.state}) for that version, and the hub keeps one build per source and version (reusing it would ship the old binaries):\n  ${shown.join("\n  ")}`,
    {
      hint: remedy,
      details: { source: source.name, version: source.version, build: build.id, changes: [...changes] },
    },
  );
}

async function recordOf(client: HubClient, p: Pending, info: BuildView): Promise<BuildRecord> {
  const arches: BuildRecord["arches"] = [];
  if (info.task !== null) {
    const detail = await client.getTask(info.task).catch(() => undefined);
    for (const child of detail?.children.filter((c) => c.method === "buildArch" && c.state === "closed") ?? []) {
      const root = info.buildroots.find((r) => r.task === child.id);
      arches.push({ arch: child.arch ?? "?", task: child.id, host: child.host, buildroot: root?.id ?? null });
    }
  }
  for (const root of info.buildroots)
    if (!arches.some((a) => a.buildroot === root.id)) arches.push({ arch: root.arch, task: root.task, host: null, buildroot: root.id });
  return {
    index: p.source.index,
    kind: p.source.kind,
    ref: p.source.ref,
    source: info.name,
    version: info.version,
    buildId: info.id,
    task: info.task,
    reused: p.reused,
    arches,
    binaries: info.binaries.map((b) => ({ ...b })),
  };
}

async function writeBuildsMetadata(ctx: PhaseContext, state: BuildState): Promise<void> {
  const { key: _key, ...repository } = state.repository;
  const doc = {
    header: { type: "deb-bootc-compose.builds", version: "1.0" },
    payload: {
      compose: { id: ctx.composeId },
      hub: state.hub,
      target: state.target,
      buildTag: state.buildTag,
      destTag: state.destTag,
      repository,
      builds: state.builds,
    },
  };
  const meta = join(ctx.composeDir, "compose", "metadata");
  await mkdir(meta, { recursive: true });
  await writeFileAtomic(join(meta, "builds.json"), `${JSON.stringify(doc, null, 2)}\n`);
}

/** The orchestrator build a package of the set came from, by the .deb's SHA256. */
export function buildOrigins(state: BuildState | undefined): Map<string, { build: BuildRecord; hub: string; tag: string }> {
  const out = new Map<string, { build: BuildRecord; hub: string; tag: string }>();
  for (const build of state?.builds ?? [])
    for (const b of build.binaries) out.set(b.sha256, { build, hub: state!.hub.url, tag: state!.destTag });
  return out;
}
