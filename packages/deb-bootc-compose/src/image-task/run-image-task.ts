import { chmod, copyFile, link, lstat, mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { coreError, run, writeFileAtomic } from "@debian-bootc/core";
import { hashFileWith } from "@debian-bootc/debian";
import type { ComposeEvents } from "../compose/compose-events.js";
import type { ComposeState } from "../compose/compose-state.js";
import { type ComposeResult, runCompose } from "../compose/phase-engine.js";
import { capturingState } from "../compose/state-capture.js";
import { lintPhase } from "../lint/lint-phase.js";
import { writeOciArchive } from "../oci/oci-archive.js";
import { ociPhase } from "../oci/oci-phase.js";
import { createOstreePhase } from "../ostree/ostree-phase.js";
import { createRootfsPhase } from "../rootfs/rootfs-phase.js";
import { readImageTask } from "./task-request.js";
import { type ImageFileKind, type ImageTaskResult, type ResultJson, resultJsonSchema } from "./task-result.js";
import { seedImageTaskState } from "./task-state.js";

export interface ImageTaskOptions {
  /** The work directory the builder prepared (request.json, definition/, snapshot/, an empty out/). */
  workDir: string;
  /** The compose cache (rootfs trees); default the usual one. */
  cacheDir?: string;
  signal?: AbortSignal;
  events?: ComposeEvents;
}

/** The name of the ostree-commit tar in W/out. */
export const OSTREE_TAR = "ostree-repo.tar";
/** Log files go to W/out as log-<name>. */
export const LOG_PREFIX = "log-";

/**
 * `image-task W`: one variant/arch's image phases up to the OCI image (rootfs, ostree, oci, lint) of a
 * compose made elsewhere, run by the phase engine in W/compose/<compose ID> from the state the request
 * carries, the snapshot from W/snapshot; commits are left unsigned (no private key is here) and chain on
 * the client's previous commit by checksum. W/out/result.json names what it leaves in W/out: the commit's
 * repository as a tar, the OCI archive, the logs. The disk images are a diskImage task's (`disk-image W`,
 * run-disk-task.ts), once the client has signed the commit they deploy.
 */
export async function runImageTask(options: ImageTaskOptions): Promise<ResultJson> {
  const { workDir } = options;
  const task = await readImageTask(workDir);
  const { request, loaded } = task;
  const { variant, arch } = request;
  // the builder makes W private; the image sandbox's root (an unprivileged id of the range) must pass through
  // it to the trees under W/compose (W holds no secret: no private key is ever in a request)
  await chmod(workDir, 0o755);
  const out = join(workDir, "out");
  const keyDir = join(workDir, "keys");
  await mkdir(keyDir, { recursive: true });
  await mkdir(out, { recursive: true });
  const state = await seedImageTaskState(task.state, { variant, arch, snapshotDir: join(workDir, "snapshot"), keyDir });
  const { previousCommit } = task.state;
  const captured = capturingState([
    createRootfsPhase({
      baseDir: loaded.baseDir,
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
      only: { variant, arch, trust: { updateKey: task.state.updateKey, containersTrust: task.state.containersTrust } },
    }),
    createOstreePhase({ sign: false, parentOf: () => previousCommit }),
    ociPhase,
    lintPhase,
  ]);
  const composed = await runCompose({
    definition: loaded.definition,
    definitionPath: task.definitionPath,
    outputDir: join(workDir, "compose"),
    composeId: request.compose,
    state,
    phases: captured.phases,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.events ? { events: options.events } : {}),
  });
  if (composed.status === "TERMINATED") throw coreError("INTERRUPTED", `${request.compose} ${variant}/${arch}: image task interrupted`);
  const result = await collectOutputs(composed, captured.state(), loaded.definition, out, options.signal);
  await writeFileAtomic(join(out, "result.json"), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/**
 * The phases the run ran as it recorded them (logs/phases.json), each error's message cut to its bound: the
 * ones it skipped (the package side, the phases of the other task) say nothing to the client, and a
 * variant/arch's result holds both its tasks' phases within the schema's bound.
 */
export async function phasesOf(composeDir: string): Promise<ImageTaskResult["phases"]> {
  const log = JSON.parse(await readFile(join(composeDir, "logs", "phases.json"), "utf8")) as {
    phases: Array<{ name: string; outcome: string; durationMs?: number; notes?: string[]; error?: { code: string; message: string } }>;
  };
  return log.phases
    .filter((p) => p.outcome !== "skipped")
    .map(({ name, outcome, durationMs, notes, error }) => ({
      name,
      outcome,
      durationMs,
      notes,
      ...(error ? { error: { code: error.code, message: error.message.slice(0, 4000) } } : {}),
    }));
}

/** Each file of a run's logs/ put into W/out as <prefix><name>. */
export async function putLogs(composeDir: string, prefix: string, put: (source: string, name: string, kind: "log") => Promise<void>) {
  for (const name of (await readdir(join(composeDir, "logs"))).sort()) {
    const path = join(composeDir, "logs", name);
    if ((await lstat(path)).isFile()) await put(path, `${prefix}${name}`, "log");
  }
}

/** A file into W/out under a name: a hard link where it can be (W/out is beside W/compose), so that a disk image is not copied. */
export async function putInto(out: string, source: string, name: string): Promise<void> {
  await link(source, join(out, name)).catch(() => copyFile(source, join(out, name)));
}

/** The records the phases left in the run's state, and the files they describe copied into W/out. */
async function collectOutputs(
  composed: ComposeResult,
  state: ComposeState,
  definition: { name: string; outputs: readonly string[] },
  out: string,
  signal?: AbortSignal,
): Promise<ResultJson> {
  const dir = composed.composeDir;
  const files: ResultJson["files"] = [];
  const put = async (source: string, name: string, kind: ImageFileKind) => {
    await putInto(out, source, name);
    files.push({ name, kind });
  };
  const details = state.get("rootfs-details")[0]!;
  const { variant, arch } = details;
  const result: ImageTaskResult = {
    variant,
    arch,
    rootfs: {
      kver: details.kver,
      durations: details.durations,
      from: details.from,
      origin: details.origin,
      ...(details.key ? { key: details.key } : {}),
      ...(details.treeId ? { treeId: details.treeId } : {}),
      ...(details.builtBy ? { builtBy: details.builtBy } : {}),
    },
    phases: await phasesOf(dir),
  };
  const here = join(dir, "compose", variant, arch);
  if (definition.outputs.includes("ostree")) {
    const commit = state.get("ostree")[0]!;
    result.ostree = {
      ref: commit.ref,
      commit: commit.commit,
      ...(commit.parent ? { parent: commit.parent } : {}),
      version: commit.version,
      ...(commit.kver ? { kver: commit.kver } : {}),
      ...(commit.treeKey ? { treeKey: commit.treeKey } : {}),
      ...(commit.treeId ? { treeId: commit.treeId } : {}),
      ...(commit.commitKey ? { commitKey: commit.commitKey } : {}),
    };
    await run("tar", ["--create", "--file", join(out, OSTREE_TAR), "--directory", join(dir, "compose", "ostree"), "repo"], { signal });
    files.push({ name: OSTREE_TAR, kind: "ostree-commit" });
  }
  if (definition.outputs.includes("oci")) {
    const name = `${definition.name}-${variant}.ociarchive`;
    const archive = join(here, name);
    // the archive carries the layout too: the client unpacks it when the definition wants the layout only
    if (!definition.outputs.includes("ociarchive"))
      await writeOciArchive(join(here, "oci"), archive, Number(process.env.SOURCE_DATE_EPOCH ?? 0) || 0, signal);
    result.oci = { file: name, sha256: (await hashFileWith(archive, ["sha256"])).sha256 };
    await put(archive, name, "oci-archive");
  }
  await putLogs(dir, LOG_PREFIX, put);
  return resultJsonSchema.parse({ files, result });
}
