import { createHash } from "node:crypto";
import { lstat, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { hashFileWith } from "@debian-bootc/debian";
import { resultsLogPath } from "../boot/boot-test.js";
import { markerBootLog } from "../boot/test-phase.js";
import { moduleDirHash } from "../code-hash.js";
import type { PhaseContext } from "../compose/phase-engine.js";
import { type OutputsRecord, previousComposeDir, recordOutputs, takeOverPrevious } from "../compose/previous-compose.js";
import { previousCommitOf } from "../ostree/ostree-phase.js";
import { canonicalJson } from "../rootfs/tree-key.js";
import type { CheckedImageTask } from "./place-result.js";
import type { ImageTaskInputs } from "./task-inputs.js";
import { type ImageFileKind, parseImageTaskResult } from "./task-result.js";

/**
 * A no-op recompose with `--images-on hub`: each placed image task records, beside its outputs, the key
 * of what decided its image (compose/<variant>/<arch>/image-task.json); the next compose of the same name
 * computes the key before queueing and, when the previous compose recorded the same one and still holds
 * what it placed, queues nothing and takes those over (hard links, the commit from its repository) as
 * the local phases take over a previous compose's unchanged outputs.
 */

/** compose/<variant>/<arch>/image-task.json, relative to a compose directory. */
export function imageTaskKeyFile(variant: string, arch: string): string {
  return join("compose", variant, arch, "image-task.json");
}

/** What a placed task leaves for the next compose: its key, its checked result, its builder and its files' kinds. */
export interface ImageTaskRecord extends OutputsRecord {
  result: unknown;
  host?: string;
  files: Array<{ name: string; kind: string }>;
}

/** The modules that make an image from a task's inputs: a change to any of them makes every key new. */
function imagePhasesCodeHash(): Promise<string[]> {
  const here = dirname(fileURLToPath(import.meta.url));
  return Promise.all(["image-task", "rootfs", "ostree", "oci", "lint", "disk", "boot"].map((d) => moduleDirHash(join(here, "..", d))));
}

/**
 * SHA256 over what decides a variant/arch's image: the definition's text, its files (path and SHA256),
 * the state without the previous commit (a no-op recompose chains on another one) and the image phases'
 * code. The snapshot's own files are left out: their content that matters is in the state (the package
 * set's SHA256s, the key, suite and components), while its Release is signed again by every compose.
 * The ask for the builder's marker boot is not in it either (it is the diskImage task's, and makes no
 * other image): a compose that wants one and takes over tasks that made none has its own test phase boot
 * the image (a disk record without markerBoot); one that skips its test phase just does not look at the
 * boot it took over. The diskImage task's own inputs follow from these (the commit, the definition).
 */
export async function imageTaskKey(inputs: ImageTaskInputs): Promise<string> {
  const definitionFiles = [];
  for (const f of inputs.definitionFiles) definitionFiles.push({ path: f.path, sha256: (await hashFileWith(f.source, ["sha256"])).sha256 });
  const { previousCommit: _chain, ...state } = inputs.state;
  const key = {
    definitionFile: inputs.definitionFile,
    definition: inputs.definition,
    variant: inputs.variant,
    arch: inputs.arch,
    definitionFiles,
    state,
    code: await imagePhasesCodeHash(),
  };
  return createHash("sha256").update(canonicalJson(key)).digest("hex");
}

/** What the image phases placed of a result, relative to the compose directory, and the SHA256 of the files the result records one for. */
function placedOutputs(
  ctx: Pick<PhaseContext, "composeDir" | "definition">,
  task: Pick<CheckedImageTask, "result" | "files">,
): { outputs: string[]; checked: Array<{ path: string; sha256: string }> } {
  const { variant, arch, oci, disk, bootTests } = task.result;
  const base = join("compose", variant, arch);
  const { outputs: wanted } = ctx.definition;
  const outputs: string[] = [];
  const checked: Array<{ path: string; sha256: string }> = [];
  if (oci && wanted.includes("oci")) outputs.push(join(base, "oci"));
  if (oci && wanted.includes("ociarchive")) {
    outputs.push(join(base, oci.file));
    checked.push({ path: join(base, oci.file), sha256: oci.sha256 });
  }
  for (const f of disk?.files ?? []) {
    outputs.push(join(base, "images", f.file));
    checked.push({ path: join(base, "images", f.file), sha256: f.sha256 });
  }
  if ([...task.files.values()].includes("log")) outputs.push(join("logs", `image-task-${variant}-${arch}`));
  const boot = bootTests?.find((b) => b.kind === "marker");
  const consoleLog = markerBootLog("", variant, arch);
  if (boot?.consoleLog !== undefined) outputs.push(consoleLog);
  if (boot?.resultsLog !== undefined) outputs.push(resultsLogPath(consoleLog));
  return { outputs, checked };
}

/** Records a placed task for the next compose (last, once its outputs are whole). */
export async function recordImageTask(ctx: Pick<PhaseContext, "composeDir" | "definition">, task: CheckedImageTask): Promise<void> {
  if (!task.key) return;
  const record: ImageTaskRecord = {
    key: task.key,
    result: task.result,
    files: [...task.files].map(([name, kind]) => ({ name, kind })),
    ...(task.host ? { host: task.host } : {}),
    ...(task.reusedFrom ? { reusedFrom: task.reusedFrom } : {}),
  };
  await recordOutputs(ctx.composeDir, imageTaskKeyFile(task.result.variant, task.result.arch), record);
}

/**
 * The previous compose's placed task of a variant/arch, taken over when it recorded the same key, its
 * commit is still the ref's head there (the one this compose chains on), and every file it placed is
 * there with the SHA256 recorded; then its outputs are hard-linked here. Undefined when anything differs
 * (nothing of it is left here): the task is queued.
 */
export async function takeOverImageTask(
  ctx: Pick<PhaseContext, "composeDir" | "definition" | "logger" | "signal">,
  variant: string,
  arch: string,
  key: string,
): Promise<CheckedImageTask | undefined> {
  const previous = await previousComposeDir(ctx.composeDir, ctx.definition.name);
  if (!previous) return undefined;
  const keyFile = imageTaskKeyFile(variant, arch);
  const record = await readFile(join(previous, keyFile), "utf8").then(
    (t) => JSON.parse(t) as ImageTaskRecord,
    () => undefined,
  );
  if (record?.key !== key) return undefined;
  let task: CheckedImageTask;
  try {
    const result = parseImageTaskResult(record.result);
    if (result.variant !== variant || result.arch !== arch) return undefined;
    task = { dir: previous, result, files: new Map(record.files.map((f) => [f.name, f.kind as ImageFileKind])) };
  } catch {
    return undefined;
  }
  const { ostree } = task.result;
  if (ostree && (await previousCommitOf(ctx.composeDir, ctx.definition, variant, arch))?.commit !== ostree.commit) return undefined;
  const { outputs, checked } = placedOutputs(ctx, task);
  for (const f of checked) {
    const path = join(previous, f.path);
    if (!(await lstat(path).catch(() => undefined))?.isFile()) return undefined;
    if ((await hashFileWith(path, ["sha256"])).sha256 !== f.sha256) {
      ctx.logger.info({ path, sha256: f.sha256 }, "a file the previous image task placed changed since: queueing the task");
      return undefined;
    }
  }
  const taken = await takeOverPrevious<ImageTaskRecord>(ctx, keyFile, key, outputs);
  if (!taken) return undefined;
  return { ...task, dir: ctx.composeDir, key, reusedFrom: taken.from, ...(record.host ? { host: record.host } : {}) };
}
