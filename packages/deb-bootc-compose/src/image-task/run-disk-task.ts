import { chmod, lstat, mkdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { coreError, pathExists, writeFileAtomic } from "@debian-bootc/core";
import { DISK_REPOSITORY_TAR } from "@debian-bootc/deb-orchestrator";
import { resultsLogPath } from "../boot/boot-test.js";
import { type BootTestRecord, markerBootLog, markerBootTests } from "../boot/test-phase.js";
import type { ComposeEvents } from "../compose/compose-events.js";
import { ComposeState } from "../compose/compose-state.js";
import { type Phase, runCompose } from "../compose/phase-engine.js";
import { capturingState } from "../compose/state-capture.js";
import { createImageBuildPhase } from "../disk/image-build-phase.js";
import { composeError } from "../errors.js";
import { ostreeRef } from "../ostree/ostree-phase.js";
import { addDetachedMetadata, type DiskTaskState, readDiskTask, verifyCommitToDeploy } from "./disk-task.js";
import { phasesOf, putInto, putLogs } from "./run-image-task.js";
import { extractTarSafely } from "./safe-tar.js";
import { BOOT_MESSAGE_MAX, type DiskResultJson, type DiskTaskResult, diskResultJsonSchema, type MarkerBootResult } from "./task-result.js";

/** The disk task's logs go to W/out as log-disk-<name>: the client keeps them beside its composeImage task's. */
export const DISK_LOG_PREFIX = "log-disk-";

/**
 * `disk-image W`: one variant/arch's disk images of a commit the client signed, run by the phase engine in
 * W/compose/<compose ID>: the composeImage task's repository tar unpacked (safe-tar.ts), the client's
 * detached signature written as the commit's, the commit checked (the ref's head is the one sent, signed
 * by the key the image trusts), then image-build and, when asked, the marker boot. A failed disk image
 * does not fail the task: its error is in the result's phases, the logs come back.
 */
export async function runDiskTask(options: { workDir: string; signal?: AbortSignal; events?: ComposeEvents }): Promise<DiskResultJson> {
  const { workDir, signal } = options;
  const task = await readDiskTask(workDir);
  const { request, loaded } = task;
  const { variant, arch } = request;
  const { definition } = loaded;
  const commit = request.commit.checksum;
  // the image sandbox's root (an unprivileged id of the range) reads the repository under W (W holds no secret)
  await chmod(workDir, 0o755);
  const out = join(workDir, "out");
  await mkdir(out, { recursive: true });
  const unpacked = join(workDir, "ostree");
  await extractTarSafely(join(workDir, "inputs", DISK_REPOSITORY_TAR), unpacked, signal ? { signal } : {});
  const repo = join(unpacked, "repo");
  if (!(await lstat(repo).catch(() => undefined))?.isDirectory())
    throw composeError("COMMIT_SIGNATURE_REFUSED", `${DISK_REPOSITORY_TAR} holds no repo/ directory`);
  if (request.commit.commitmeta !== undefined) await addDetachedMetadata(repo, commit, request.commit.commitmeta);
  await verifyCommitToDeploy({
    repo,
    commit,
    definition,
    variant,
    arch,
    ...(signal ? { signal } : {}),
    onOutput: (chunk) => process.stderr.write(chunk),
  });
  // the task's live log says what was checked
  process.stderr.write(
    definition.updates
      ? `disk-image: ${commit} verified: the ref's head, with a good signature by the channel key its image carries\n`
      : `disk-image: ${commit} verified: the ref's head (no updates section: nothing is signed)\n`,
  );
  const state = new ComposeState();
  state.set("ostree", [
    { variant, arch, repo, ref: ostreeRef(definition, variant, arch), commit, changed: true, version: definition.version },
  ]);
  const imageBuild = createImageBuildPhase();
  const captured = capturingState([imageBuild, ...(task.state.bootTest ? [markerBootPhase(task.state.bootTest)] : [])]);
  const composed = await runCompose({
    definition,
    definitionPath: task.definitionPath,
    outputDir: join(workDir, "compose"),
    composeId: request.compose,
    state,
    phases: captured.phases,
    // a failed disk image is a partial result: its error goes back in the phases, with the logs
    failable: [imageBuild.deliverable!],
    ...(signal ? { signal } : {}),
    ...(options.events ? { events: options.events } : {}),
  });
  if (composed.status === "TERMINATED")
    throw coreError("INTERRUPTED", `${request.compose} ${variant}/${arch}: disk image task interrupted`);
  const dir = composed.composeDir;
  const files: DiskResultJson["files"] = [];
  const put = async (source: string, name: string, kind: "disk-image" | "log") => {
    await putInto(out, source, name);
    files.push({ name, kind });
  };
  const result: DiskTaskResult = { variant, arch, phases: await phasesOf(dir) };
  const disk = captured.state().find("disk-images")?.[0];
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
  const boots = captured.state().find("boot-tests");
  if (boots) result.bootTests = await Promise.all(boots.map((b) => markerBootResult(dir, b)));
  await putLogs(dir, DISK_LOG_PREFIX, put);
  const json = diskResultJsonSchema.parse({ files, result });
  await writeFileAtomic(join(out, "result.json"), `${JSON.stringify(json, null, 2)}\n`);
  return json;
}

/**
 * The test phase of a disk task: the disk image booted to its marker as the client's test phase boots it
 * (the update test is an updateTest task of its own). A failed boot is a record for the client to judge,
 * not a failure of the task: the image still goes back.
 */
function markerBootPhase(bootTest: NonNullable<DiskTaskState["bootTest"]>): Phase {
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
    if (await pathExists(path)) named[key] = `${DISK_LOG_PREFIX}${basename(path)}`;
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
