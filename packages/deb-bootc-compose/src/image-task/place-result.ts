import { copyFile, lstat, mkdir, rename, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { hashFileWith } from "@debian-bootc/debian";
import { resultsLogPath } from "../boot/boot-test.js";
import { type BootTestRecord, markerBootLog } from "../boot/test-phase.js";
import type { ImageRecord } from "../compose/compose-state.js";
import type { PhaseContext } from "../compose/phase-engine.js";
import type { DiskImageRecord } from "../disk/image-build-phase.js";
import { composeError } from "../errors.js";
import { commitParent, reuseCommit } from "../ostree/commit.js";
import {
  channelRef,
  type OstreeCommitRecord,
  ostreeRef,
  previousCommitOf,
  recordCommits,
  writeCommitRecord,
} from "../ostree/ostree-phase.js";
import { runrootProfile } from "../ostree/runroot.js";
import { signCommit } from "../publish/publish.js";
import { updateSigningKey } from "../publish/signing-key.js";
import { handBackToCaller } from "../rootfs/chroot.js";
import type { RootfsDetails } from "../rootfs/rootfs-phase.js";
import { openTextLog } from "../rootfs/text-log.js";
import { LOG_PREFIX } from "./run-image-task.js";
import { extractTarSafely } from "./safe-tar.js";
import {
  IMAGE_FILE_NAME,
  type ImageFileKind,
  type ImageTaskResult,
  type MarkerBootResult,
  parseDiskTaskResult,
  parseImageTaskResult,
} from "./task-result.js";

/**
 * Placing a finished image task's result into the client's compose, so that the directory and the state
 * end up as the local image phases leave them (the test, metadata and publish phases then work as in a
 * local compose): the commit pulled into compose/ostree/repo and signed there with the client's update
 * key, the OCI archive and layout and the disk images at the local phases' paths, the records in the
 * state, the builder's logs under logs/image-task-<variant>-<arch>/. One function per image phase.
 */

/** A task's files, downloaded into one directory of the compose (work/image-tasks/...), and its `image` result. */
export interface DownloadedImageTask {
  dir: string;
  files: ReadonlyArray<{ name: string; kind: string }>;
  result: unknown;
  /** The commit the client sent the task to chain on (state.previousCommit), if any. */
  parent?: string;
  /** The builder that ran it, as the hub names it. */
  host?: string;
}

/** A downloaded task with its result checked and its files found: what the placement functions take. */
export interface CheckedImageTask {
  dir: string;
  result: ImageTaskResult;
  /** name -> kind, each a regular file in dir. */
  files: Map<string, ImageFileKind>;
  parent?: string;
  host?: string;
  /** The key of what decided its image (reuse-previous.ts), recorded for the next compose. */
  key?: string;
  /** Taken over from this previous compose (no task queued): its outputs are in place already, hard-linked. */
  reusedFrom?: string;
  /** Its ostree-commit file as the hub's store has it: a diskImage task takes the commit from there. */
  repository?: { sha256: string; size: number };
  /** The builder that made its disk images (a diskImage task's), when it was not `host`'s task. */
  diskHost?: string;
}

type PlaceContext = Pick<PhaseContext, "composeDir" | "definition" | "logger" | "signal" | "state" | "emit">;

/** The result's schema, and every file it names a plain name of a regular file (not a link) in the directory. */
export async function checkImageTask(downloaded: DownloadedImageTask): Promise<CheckedImageTask> {
  const result = parseImageTaskResult(downloaded.result);
  const files = new Map<string, ImageFileKind>();
  for (const file of downloaded.files) {
    if (!IMAGE_FILE_NAME.test(file.name))
      throw composeError("IMAGE_RESULT_REFUSED", `image task file ${JSON.stringify(file.name)}: not a plain name`);
    const info = await lstat(join(downloaded.dir, file.name)).catch(() => undefined);
    if (!info?.isFile())
      throw composeError("IMAGE_RESULT_REFUSED", `image task file ${file.name}: not a regular file in ${downloaded.dir}`);
    files.set(file.name, file.kind as ImageFileKind);
  }
  const named = [result.oci?.file, ...(result.disk?.files.map((f) => f.file) ?? [])].filter((n) => n !== undefined);
  for (const name of named)
    if (!files.has(name)) throw composeError("IMAGE_RESULT_REFUSED", `image task result names ${name}, which is not among its files`);
  for (const boot of result.bootTests ?? []) checkMarkerBoot(boot, result, files);
  const { parent, host } = downloaded;
  return { dir: downloaded.dir, result, files, ...(parent ? { parent } : {}), ...(host ? { host } : {}) };
}

/** A builder's marker boot is of the task's variant/arch, of one of its disk image files, with its logs among the task's log files. */
function checkMarkerBoot(boot: MarkerBootResult, result: ImageTaskResult, files: ReadonlyMap<string, ImageFileKind>): void {
  const refuse = (why: string) =>
    composeError("IMAGE_RESULT_REFUSED", `image task of ${result.variant}/${result.arch}: its marker boot ${why}`, {
      details: { field: "bootTests" },
    });
  if (boot.variant !== result.variant || boot.arch !== result.arch)
    throw refuse(`is of ${JSON.stringify(boot.variant)}/${JSON.stringify(boot.arch)}`);
  if (!result.disk?.files.some((f) => f.file === boot.image))
    throw refuse(`booted ${boot.image}, which is not one of its disk image files`);
  for (const log of [boot.consoleLog, boot.resultsLog])
    if (log !== undefined && files.get(log) !== "log") throw refuse(`names ${log}, which is not among its log files`);
}

/**
 * A diskImage task's result merged into its composeImage task's, once checked: its schema, its files (plain
 * names of regular files, downloaded beside the composeImage task's), its disk images deploying that task's
 * commit (signed here) on the ref the definition gives the images, its marker boot of one of them. The
 * merged result is what the composeImage task alone gave before diskImage tasks: placeDiskImages,
 * placeLogs and the no-op reuse take it as they took that.
 */
export async function placeDiskTaskResult(
  ctx: Pick<PhaseContext, "definition">,
  task: CheckedImageTask,
  downloaded: { files: ReadonlyArray<{ name: string; kind: string }>; result: unknown; host?: string },
): Promise<CheckedImageTask> {
  const d = parseDiskTaskResult(downloaded.result);
  const { variant, arch, ostree } = task.result;
  const refuse = (why: string) => composeError("IMAGE_RESULT_REFUSED", `disk image task of ${variant}/${arch}: ${why}`);
  if (d.variant !== variant || d.arch !== arch) throw refuse(`it answers for ${d.variant}/${d.arch}`);
  const files = new Map(task.files);
  for (const file of downloaded.files) {
    if (!IMAGE_FILE_NAME.test(file.name) || (file.kind !== "disk-image" && file.kind !== "log"))
      throw refuse(`file ${JSON.stringify(file.name)} (${JSON.stringify(file.kind)}) is not a plain name of a disk image or a log`);
    if (files.has(file.name)) throw refuse(`file ${file.name} is one of its image task's already`);
    if (!(await lstat(join(task.dir, file.name)).catch(() => undefined))?.isFile())
      throw refuse(`file ${file.name}: not a regular file in ${task.dir}`);
    files.set(file.name, file.kind);
  }
  if (d.disk) {
    const ref = channelRef(ctx.definition, variant, arch) ?? ostreeRef(ctx.definition, variant, arch);
    if (!ostree || d.disk.commit !== ostree.commit || d.disk.ref !== ref)
      throw refuse(
        `its disk image deploys ${d.disk.ref} at ${d.disk.commit}, not ${ref} at ${ostree?.commit ?? "no commit"}, the commit signed here`,
      );
    for (const f of d.disk.files)
      if (files.get(f.file) !== "disk-image") throw refuse(`its result names ${f.file}, which is not among its disk images`);
  }
  // checked whole again: it is what the next compose takes over (reuse-previous.ts parses it back)
  const result = parseImageTaskResult({
    ...task.result,
    ...(d.disk ? { disk: d.disk } : {}),
    ...(d.bootTests ? { bootTests: d.bootTests } : {}),
    phases: [...task.result.phases, ...d.phases],
  });
  for (const boot of result.bootTests ?? []) checkMarkerBoot(boot, result, files);
  return { ...task, result, files, ...(downloaded.host ? { diskHost: downloaded.host } : {}) };
}

/** The file of a kind, checked against the SHA256 the result records for it. */
async function checkedFile(task: CheckedImageTask, name: string, sha256: string): Promise<string> {
  const path = join(task.dir, name);
  const actual = (await hashFileWith(path, ["sha256"])).sha256;
  if (actual !== sha256) throw composeError("IMAGE_RESULT_REFUSED", `${name}: SHA256 ${actual}, the result records ${sha256}`);
  return path;
}

/** The rootfs phase's records: the trees themselves stayed on the builders, so no path, and which builder. */
export function placeRootfsDetails(ctx: PlaceContext, tasks: readonly CheckedImageTask[]): RootfsDetails[] {
  const details = tasks.map(({ result: r, host }) => ({
    variant: r.variant,
    arch: r.arch,
    ...r.rootfs,
    ...(host ? { builtOn: host } : {}),
  }));
  ctx.state.set("rootfs-details", details);
  return details;
}

/**
 * Each unsigned commit pulled from its task's repository into compose/ostree/repo on its ref (ostree
 * pull-local in the suite's runroot, as the local phase takes over a previous commit), then signed there
 * with the update key when the definition has an updates section. A task sent a previous commit to chain
 * on gets it pulled first from the previous compose (the repository then holds both, as a local commit
 * leaves it), and its commit must record exactly that parent (none when none was sent).
 */
export async function placeOstreeCommits(
  ctx: PlaceContext,
  tasks: readonly CheckedImageTask[],
  baseDir: string,
): Promise<OstreeCommitRecord[]> {
  const repo = join(ctx.composeDir, "compose", "ostree", "repo");
  const records: OstreeCommitRecord[] = [];
  const log = await openTextLog(join(ctx.composeDir, "logs", "ostree-commands.log"));
  try {
    for (const task of tasks) {
      const { result: r } = task;
      if (!r.ostree) continue;
      if (task.reusedFrom) {
        records.push(await reuseTakenOverCommit(ctx, task, repo, r.ostree));
        continue;
      }
      const tar = [...task.files].find(([, kind]) => kind === "ostree-commit")?.[0];
      if (!tar) throw composeError("IMAGE_RESULT_REFUSED", `${r.variant}/${r.arch}: the result has a commit but no ostree-commit file`);
      const unpacked = join(task.dir, "ostree");
      await rm(unpacked, { recursive: true, force: true });
      await extractTarSafely(join(task.dir, tar), unpacked, { signal: ctx.signal });
      const profile = runrootProfile(ctx.definition.suite, r.arch);
      const previous = task.parent ? await previousCommitOf(ctx.composeDir, ctx.definition, r.variant, r.arch) : undefined;
      if (previous && previous.commit === task.parent) {
        log.line(`pull-local ${previous.commit} (${r.ostree.ref}) from ${previous.repo}: the parent`);
        const took = await reuseCommit({
          repo,
          ref: r.ostree.ref,
          previousRepo: previous.repo,
          commit: previous.commit,
          profile,
          logger: ctx.logger,
          signal: ctx.signal,
          onOutput: (c) => log.write(c),
        });
        if (!took)
          ctx.logger.warn({ ref: r.ostree.ref, parent: previous.commit }, "the previous compose's ref moved: the parent is not copied");
      }
      log.line(`pull-local ${r.ostree.commit} (${r.ostree.ref}) from ${unpacked}/repo`);
      const pulled = await reuseCommit({
        repo,
        ref: r.ostree.ref,
        previousRepo: join(unpacked, "repo"),
        commit: r.ostree.commit,
        profile,
        untrusted: true,
        logger: ctx.logger,
        signal: ctx.signal,
        onOutput: (c) => log.write(c),
      });
      if (!pulled)
        throw composeError(
          "IMAGE_RESULT_REFUSED",
          `${r.variant}/${r.arch}: the task's repository has no ${r.ostree.ref} at ${r.ostree.commit}`,
        );
      const parent = await commitParent(repo, r.ostree.commit, { profile, logger: ctx.logger, signal: ctx.signal });
      if (parent !== task.parent)
        throw composeError(
          "IMAGE_RESULT_REFUSED",
          `${r.variant}/${r.arch}: commit ${r.ostree.commit} has parent ${parent ?? "none"}, the task was sent ${task.parent ?? "none"}`,
        );
      if (ctx.definition.updates) {
        const key = ctx.state.find("update-key") ?? (await updateSigningKey(ctx.definition, baseDir));
        await signCommit({
          repo,
          commit: r.ostree.commit,
          key,
          profile,
          logger: ctx.logger,
          signal: ctx.signal,
          onOutput: (c) => log.write(c),
        });
        log.line(`signed ${r.ostree.commit} with ${key.fingerprint}`);
      }
      await rm(unpacked, { recursive: true, force: true });
      const record: OstreeCommitRecord = {
        variant: r.variant,
        arch: r.arch,
        repo,
        changed: true,
        ...r.ostree,
        ...(parent ? { parent } : {}),
      };
      records.push(record);
      await writeCommitRecord(ctx.composeDir, record);
      ctx.emit({
        phase: "ostree",
        kind: "note",
        text: `${r.variant}/${r.arch}: commit ${r.ostree.commit.slice(0, 12)} from the image task`,
      });
    }
    if (records.length > 0) await handBackToCaller(repo, { logger: ctx.logger, signal: ctx.signal });
  } finally {
    await log.close();
  }
  recordCommits(ctx, records);
  return records;
}

/**
 * A taken-over task's commit (the previous compose's, signed there by this client, the head of its ref
 * there) taken into this compose's repository as the local phase takes over an unchanged commit.
 */
async function reuseTakenOverCommit(
  ctx: PlaceContext,
  task: CheckedImageTask,
  repo: string,
  ostree: NonNullable<ImageTaskResult["ostree"]>,
): Promise<OstreeCommitRecord> {
  const { variant, arch } = task.result;
  const previous = await previousCommitOf(ctx.composeDir, ctx.definition, variant, arch);
  const took =
    previous?.commit === ostree.commit &&
    (await reuseCommit({
      repo,
      ref: ostree.ref,
      previousRepo: previous.repo,
      commit: ostree.commit,
      profile: runrootProfile(ctx.definition.suite, arch),
      logger: ctx.logger,
      signal: ctx.signal,
    }));
  if (!took)
    throw composeError(
      "IMAGE_PHASES_FAILED",
      `${variant}/${arch}: the commit ${ostree.commit} of ${task.reusedFrom} is no longer the head of ${ostree.ref} there`,
    );
  const record: OstreeCommitRecord = { variant, arch, repo, changed: false, ...ostree };
  await writeCommitRecord(ctx.composeDir, record);
  ctx.emit({
    phase: "ostree",
    kind: "note",
    text: `${variant}/${arch}: commit ${ostree.commit.slice(0, 12)} of ${task.reusedFrom} reused`,
  });
  return record;
}

/** Each OCI archive at compose/<variant>/<arch>/ (when ociarchive is wanted) and its layout unpacked as oci/ (when oci is). */
export async function placeOciImages(ctx: PlaceContext, tasks: readonly CheckedImageTask[]): Promise<void> {
  const { outputs } = ctx.definition;
  for (const task of tasks) {
    const { result: r } = task;
    if (!r.oci) continue;
    const dir = join(ctx.composeDir, "compose", r.variant, r.arch);
    if (task.reusedFrom)
      ctx.emit({
        phase: "oci",
        kind: "note",
        text: `${r.variant}/${r.arch}: image ${r.oci.sha256.slice(0, 12)} of ${task.reusedFrom} reused`,
      });
    else {
      const archive = await checkedFile(task, r.oci.file, r.oci.sha256);
      await mkdir(dir, { recursive: true });
      if (outputs.includes("oci")) {
        await rm(join(dir, "oci"), { recursive: true, force: true });
        await extractTarSafely(archive, join(dir, "oci"), { signal: ctx.signal });
      }
      if (outputs.includes("ociarchive")) await rename(archive, join(dir, r.oci.file));
    }
    if (outputs.includes("ociarchive")) {
      ctx.state.addImages([
        {
          variant: r.variant,
          arch: r.arch,
          type: "ociarchive",
          format: "oci-archive",
          path: join("compose", r.variant, r.arch, r.oci.file),
          sha256: r.oci.sha256,
        },
      ]);
    }
  }
}

/** Each disk image at compose/<variant>/<arch>/images/, with the records the test phase boots and the metadata lists. */
export async function placeDiskImages(ctx: PlaceContext, tasks: readonly CheckedImageTask[]): Promise<DiskImageRecord[]> {
  const records: DiskImageRecord[] = [];
  const images: ImageRecord[] = [];
  for (const task of tasks) {
    const { result: r } = task;
    if (!r.disk) continue;
    const dir = join(ctx.composeDir, "compose", r.variant, r.arch, "images");
    await mkdir(dir, { recursive: true });
    const files = [];
    for (const f of r.disk.files) {
      const path = join(dir, f.file);
      if (!task.reusedFrom) await rename(await checkedFile(task, f.file, f.sha256), path);
      files.push({ path, format: f.format, size: f.size, sha256: f.sha256 });
      images.push({
        variant: r.variant,
        arch: r.arch,
        type: f.format,
        path: relative(ctx.composeDir, path),
        format: f.format,
        digest: `sha256:${f.sha256}`,
        sha256: f.sha256,
        ...({ size: f.size } as object),
      });
    }
    const { files: _names, ...rest } = r.disk;
    const boot = r.bootTests?.find((b) => b.kind === "marker");
    const markerBoot = boot && (await placeMarkerBoot(ctx, task, boot, join(dir, boot.image)));
    records.push({ variant: r.variant, arch: r.arch, files, ...rest, ...(markerBoot ? { markerBoot } : {}) });
    if (task.reusedFrom)
      ctx.emit({ phase: "image-build", kind: "note", text: `${r.variant}/${r.arch}: disk images of ${task.reusedFrom} reused` });
  }
  ctx.state.set("disk-images", records);
  ctx.state.addImages(images);
  return records;
}

/**
 * A builder's marker boot as the test phase records one made here: its logs at the local test phase's
 * paths (logs/boot-<variant>-<arch>.log and its .results.log), the image the placed file. A taken-over
 * task's boot (its logs hard-linked already) booted the very bytes placed here (their SHA256 checked):
 * its message says where it comes from.
 */
async function placeMarkerBoot(ctx: PlaceContext, task: CheckedImageTask, boot: MarkerBootResult, image: string): Promise<BootTestRecord> {
  const consoleLog = markerBootLog(ctx.composeDir, boot.variant, boot.arch);
  const here = { consoleLog, resultsLog: resultsLogPath(consoleLog) };
  const { consoleLog: consoleName, resultsLog: resultsName, ...record } = boot;
  if (!task.reusedFrom) {
    if (consoleName !== undefined) await copyFile(join(task.dir, consoleName), here.consoleLog);
    if (resultsName !== undefined) await copyFile(join(task.dir, resultsName), here.resultsLog);
  }
  return {
    ...record,
    ...(task.reusedFrom ? { message: `${record.message} (taken over from ${task.reusedFrom})` } : {}),
    image,
    ...(consoleName !== undefined ? { consoleLog: here.consoleLog } : {}),
    ...(resultsName !== undefined ? { resultsLog: here.resultsLog } : {}),
  };
}

/** The image task's image-build phase, when the disk image failed on the builder (a partial result). */
export function failedDiskImage(result: ImageTaskResult): ImageTaskResult["phases"][number] | undefined {
  return result.phases.find((p) => p.name === "image-build" && p.outcome.startsWith("failed"));
}

/**
 * A disk image that failed on its builder fails the image-build phase here too, as it fails a local one:
 * the compose is then FINISHED_INCOMPLETE when the definition lists the deliverable as failable, else DOOMED.
 */
export function failOnDiskImageFailures(tasks: readonly CheckedImageTask[]): void {
  const failed = tasks.flatMap(({ result: r, host, diskHost }) => {
    const phase = failedDiskImage(r);
    if (!phase) return [];
    const why = phase.error ? `${phase.error.code}: ${phase.error.message}` : "failed";
    const on = diskHost ?? host;
    return [{ at: `${r.variant}-${r.arch}`, text: `${r.variant}/${r.arch}: the disk image failed${on ? ` on ${on}` : ""}: ${why}` }];
  });
  if (failed.length > 0)
    throw composeError("DISK_IMAGE_FAILED", failed.map((f) => f.text).join("; "), {
      hint: `the builder's log: ${failed.map((f) => `logs/image-task-${f.at}/disk-image-build.log`).join(", ")}`,
    });
}

/** The builder's logs of each task under logs/image-task-<variant>-<arch>/. */
export async function placeLogs(ctx: PlaceContext, tasks: readonly CheckedImageTask[]): Promise<void> {
  for (const task of tasks) {
    if (task.reusedFrom) continue;
    const dir = join(ctx.composeDir, "logs", `image-task-${task.result.variant}-${task.result.arch}`);
    await mkdir(dir, { recursive: true });
    for (const [name, kind] of task.files)
      if (kind === "log")
        await copyFile(join(task.dir, name), join(dir, name.startsWith(LOG_PREFIX) ? name.slice(LOG_PREFIX.length) : name));
  }
}
