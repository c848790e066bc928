import { chmod, copyFile, link, lstat, mkdir, readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { coreError, pathExists, run, writeFileAtomic } from "@debian-bootc/core";
import { hashFileWith } from "@debian-bootc/debian";
import { resultsLogPath } from "../boot/boot-test.js";
import { type BootTestRecord, markerBootLog, markerBootTests } from "../boot/test-phase.js";
import type { ComposeEvents } from "../compose/compose-events.js";
import type { ComposeState } from "../compose/compose-state.js";
import { type ComposeResult, type Phase, runCompose } from "../compose/phase-engine.js";
import { capturingState } from "../compose/state-capture.js";
import { createImageBuildPhase } from "../disk/image-build-phase.js";
import { lintPhase } from "../lint/lint-phase.js";
import { writeOciArchive } from "../oci/oci-archive.js";
import { ociPhase } from "../oci/oci-phase.js";
import { createOstreePhase } from "../ostree/ostree-phase.js";
import { createRootfsPhase } from "../rootfs/rootfs-phase.js";
import { readImageTask } from "./task-request.js";
import {
  BOOT_MESSAGE_MAX,
  type ImageFileKind,
  type ImageTaskResult,
  type MarkerBootResult,
  type ResultJson,
  resultJsonSchema,
} from "./task-result.js";
import { type ImageTaskState, seedImageTaskState } from "./task-state.js";

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
 * `image-task W`: one variant/arch's image phases (rootfs, ostree, oci, lint, image-build) of a compose
 * made elsewhere, run by the phase engine in W/compose/<compose ID> from the state the request carries,
 * the snapshot from W/snapshot; commits are left unsigned (no private key is here) and chain on the
 * client's previous commit by checksum. W/out/result.json names what it leaves in W/out: the commit's
 * repository as a tar, the OCI archive, the disk images, the logs. A failed disk image does not fail the
 * task: its error is in the result's phases, the other files come back.
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
  const imageBuild = createImageBuildPhase();
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
    imageBuild,
    ...(task.state.bootTest ? [markerBootPhase(task.state.bootTest)] : []),
  ]);
  const composed = await runCompose({
    definition: loaded.definition,
    definitionPath: task.definitionPath,
    outputDir: join(workDir, "compose"),
    composeId: request.compose,
    state,
    phases: captured.phases,
    // a failed disk image is a partial result: the other files go back, with its error in the phases
    failable: [imageBuild.deliverable!],
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.events ? { events: options.events } : {}),
  });
  if (composed.status === "TERMINATED") throw coreError("INTERRUPTED", `${request.compose} ${variant}/${arch}: image task interrupted`);
  const result = await collectOutputs(composed, captured.state(), loaded.definition, out, options.signal);
  await writeFileAtomic(join(out, "result.json"), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/**
 * The test phase of an image task: the disk image booted to its marker as the client's test phase boots it
 * (the update test is an updateTest task of its own: its repository is signed on the client). A failed boot is a record for the
 * client to judge, not a failure of the task: the image still goes back.
 */
function markerBootPhase(bootTest: NonNullable<ImageTaskState["bootTest"]>): Phase {
  return {
    name: "test",
    run: async (ctx) => ctx.state.set("boot-tests", await markerBootTests(ctx, bootTest.accel ? { accel: bootTest.accel } : {})),
  };
}

/** A marker boot's record as the result carries it: the image and the logs by their names in W/out, the message cut to its bound. */
async function markerBootResult(composeDir: string, r: BootTestRecord): Promise<MarkerBootResult> {
  // a boot that failed early has no log in its record, but may have left one
  const consoleLog = r.consoleLog ?? markerBootLog(composeDir, r.variant, r.arch);
  const logs = { consoleLog, resultsLog: r.resultsLog ?? resultsLogPath(consoleLog) };
  const named: Partial<Record<keyof typeof logs, string>> = {};
  for (const [key, path] of Object.entries(logs) as Array<[keyof typeof logs, string]>)
    if (await pathExists(path)) named[key] = `${LOG_PREFIX}${basename(path)}`;
  return {
    variant: r.variant,
    arch: r.arch,
    kind: "marker",
    image: basename(r.image),
    passed: r.passed,
    accel: r.accel,
    ...(r.accelReason ? { accelReason: r.accelReason } : {}),
    message: r.message.slice(0, BOOT_MESSAGE_MAX),
    steps: r.steps,
    durationMs: r.durationMs,
    ...named,
  };
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
    // a hard link where it can be (W/out is beside W/compose): a disk image is not copied
    await link(source, join(out, name)).catch(() => copyFile(source, join(out, name)));
    files.push({ name, kind });
  };
  const phaseLog = JSON.parse(await readFile(join(dir, "logs", "phases.json"), "utf8")) as {
    phases: Array<{ name: string; outcome: string; durationMs?: number; notes?: string[]; error?: { code: string; message: string } }>;
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
    phases: phaseLog.phases.map(({ name, outcome, durationMs, notes, error }) => ({
      name,
      outcome,
      durationMs,
      notes,
      ...(error ? { error: { code: error.code, message: error.message.slice(0, 4000) } } : {}),
    })),
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
  const disk = state.find("disk-images")?.[0];
  if (disk) {
    result.disk = {
      files: disk.files.map((f) => ({ file: basename(f.path), format: f.format, size: f.size, sha256: f.sha256 })),
      rootUuid: disk.rootUuid,
      osName: disk.osName,
      remote: disk.remote,
      ref: disk.ref,
      commit: disk.commit,
      secureBoot: disk.secureBoot,
      firmware: disk.firmware,
      durationMs: disk.durationMs,
    };
    for (const f of disk.files) await put(f.path, basename(f.path), "disk-image");
  }
  const boots = state.find("boot-tests");
  if (boots) result.bootTests = await Promise.all(boots.map((b) => markerBootResult(dir, b)));
  for (const name of (await readdir(join(dir, "logs"))).sort()) {
    const path = join(dir, "logs", name);
    if ((await lstat(path)).isFile()) await put(path, `${LOG_PREFIX}${name}`, "log");
  }
  return resultJsonSchema.parse({ files, result });
}
