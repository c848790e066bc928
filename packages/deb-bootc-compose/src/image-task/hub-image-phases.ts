import { mkdir, readFile, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { coreError, isCodedError } from "@debian-bootc/core";
import { HubEvents, type TaskDetail, watchTask } from "@debian-bootc/deb-orchestrator";
import type { OrchestratorConnection } from "../build/orchestrator-connection.js";
import type { HubComposeRecord } from "../compose/hub-record.js";
import type { Phase, PhaseContext } from "../compose/phase-engine.js";
import type { LoadedDefinition } from "../definition.js";
import { composeError } from "../errors.js";
import { ostreeRef, previousCommitOf } from "../ostree/ostree-phase.js";
import { commitmetaPath, type DiskTaskState } from "./disk-task.js";
import {
  type CheckedImageTask,
  checkImageTask,
  failedDiskImage,
  failOnDiskImageFailures,
  placeDiskImages,
  placeDiskTaskResult,
  placeLogs,
  placeOciImages,
  placeOstreeCommits,
  placeRootfsDetails,
} from "./place-result.js";
import { imageTaskKey, recordImageTask, takeOverImageTask } from "./reuse-previous.js";
import { imageTaskInputs, imageTrustOf, type TaskInputFile } from "./task-inputs.js";
import { IMAGE_FILE_NAME } from "./task-result.js";

export interface HubImagePhasesOptions {
  loaded: LoadedDefinition;
  connection: OrchestratorConnection;
  /** The compose's record on the hub: image tasks are queued for a compose the hub has. */
  record: HubComposeRecord;
  /** The directory of the composes (its default push signing key is the one images trust). */
  outputDir: string;
  /**
   * The compose's test phase runs: each builder boots the disk image it made to its marker (the client's
   * test phase then takes those records; the update test runs as an updateTest task: hub-update-test.ts).
   */
  bootTest?: DiskTaskState["bootTest"];
}

/** What an image task's live log is called on the hub (the builder streams the command's output there). */
const IMAGE_LOG = "image.log";

/**
 * The image phases with `--images-on hub`: rootfs queues one composeImage task per variant/arch on the
 * compose's hub (the snapshot's and the definition's files uploaded first), waits for all of them and
 * downloads their files; ostree places each commit here and signs it (the key stays here), oci places
 * the OCI images, lint reports the builders' checks. image-build then queues one diskImage task per
 * commit, sending the commit's signature with the composeImage task's repository tar (already in the
 * hub's store), so that the disk images deploy a signed commit; their images are placed as the local phase
 * leaves them. The builders also boot their disk images to the marker when the compose's test phase
 * runs (bootTest).
 */
export function createHubImagePhases(options: HubImagePhasesOptions): Phase[] {
  let tasks: CheckedImageTask[] = [];
  const { loaded } = options;
  return [
    {
      name: "rootfs",
      async run(ctx) {
        tasks = await runImageTasks(ctx, options);
        placeRootfsDetails(ctx, tasks);
      },
    },
    { name: "ostree", run: async (ctx) => void (await placeOstreeCommits(ctx, tasks, loaded.baseDir)) },
    { name: "oci", run: (ctx) => placeOciImages(ctx, tasks) },
    {
      name: "lint",
      async run(ctx) {
        for (const { result, reusedFrom } of tasks) {
          const lint = result.phases.find((p) => p.name === "lint");
          ctx.emit({
            phase: "lint",
            kind: "note",
            text: reusedFrom
              ? `${result.variant}/${result.arch}: results of ${reusedFrom} reused (checked on the builder: ${lint?.outcome ?? "not run"})`
              : `${result.variant}/${result.arch}: checked on the builder (${lint?.outcome ?? "not run"})`,
          });
        }
      },
    },
    {
      name: "image-build",
      deliverable: "qcow2",
      async run(ctx) {
        tasks = await runDiskTasks(ctx, options, tasks);
        await placeDiskImages(ctx, tasks);
        await placeLogs(ctx, tasks);
        // what the next compose may take over: every task placed whole (a failed disk image is made again)
        for (const task of tasks) if (!task.reusedFrom && !failedDiskImage(task.result)) await recordImageTask(ctx, task);
        failOnDiskImageFailures(tasks);
      },
    },
  ];
}

interface QueuedTask {
  id: number;
  variant: string;
  arch: string;
}

/** Every queued task watched at once (one event stream wakes all the watchers) until it ends, its changes emitted in `phase`. */
async function watchQueued(
  ctx: PhaseContext,
  client: ConstructorParameters<typeof HubEvents>[0],
  queued: readonly QueuedTask[],
  phase: "rootfs" | "image-build",
): Promise<TaskDetail[]> {
  const events = new HubEvents(client);
  try {
    const finished = await Promise.all(
      queued.map((q) =>
        watchTask(client, q.id, {
          events,
          signal: ctx.signal,
          onChange: (task) => {
            if (task.id !== q.id) return;
            ctx.logger.info({ task: q.id, state: task.state, host: task.host, attempts: task.attempts }, "image task");
            ctx.emit({ phase, kind: "image-task", variant: q.variant, arch: q.arch, task: q.id, state: task.state, host: task.host });
          },
        }),
      ),
    );
    if (ctx.signal.aborted) throw coreError("INTERRUPTED", "interrupted while the image tasks ran");
    return finished;
  } finally {
    await events.close();
  }
}

/**
 * The compose ends on `error`: the tasks it queued stop too (the hub cancels them as well once the compose
 * has ended), but for a task that failed by itself (IMAGE_PHASES_FAILED). Returns the error to throw.
 */
async function stopQueued(
  ctx: PhaseContext,
  client: { cancelTask(id: number): Promise<unknown> },
  queued: readonly QueuedTask[],
  error: unknown,
): Promise<unknown> {
  if (ctx.signal.aborted || !isCodedError(error, "IMAGE_PHASES_FAILED"))
    for (const q of queued) await client.cancelTask(q.id).catch(() => {});
  return error;
}

/** IMAGE_PHASES_FAILED for a task that did not close, with the task's error and where its log is. */
function taskFailed(hubUrl: string, what: string, q: QueuedTask, task: TaskDetail): Error {
  const log = `${hubUrl}/api/v1/tasks/${q.id}/logs/${IMAGE_LOG}`;
  return composeError(
    "IMAGE_PHASES_FAILED",
    `${q.variant}/${q.arch}: ${what} ${q.id} ${task.state}${task.error ? `: ${task.error.code}: ${task.error.message}` : ""}`,
    {
      hint: `its log: ${log} (deb-orchestrator task log ${q.id} ${IMAGE_LOG})`,
      details: { task: q.id, variant: q.variant, arch: q.arch },
    },
  );
}

async function runImageTasks(ctx: PhaseContext, options: HubImagePhasesOptions): Promise<CheckedImageTask[]> {
  const { loaded } = options;
  const hub = await options.connection.open(loaded.definition, loaded.baseDir);
  if (!(await options.record.recorded()))
    throw composeError(
      "IMAGE_PHASES_FAILED",
      `${hub.url} has no record of ${ctx.composeId}: image tasks are queued for a compose the hub has`,
    );
  const { client } = hub;
  const trust = await imageTrustOf(loaded, options.outputDir);
  const queued: Array<{ id: number; variant: string; arch: string; key: string; parent?: string }> = [];
  const reused: CheckedImageTask[] = [];
  const upload = async (files: readonly TaskInputFile[]) => {
    const listed = [];
    for (const f of files) {
      const { sha256, size } = await client.uploadFileOnce(f.source);
      listed.push({ path: f.path, sha256, size });
    }
    return listed;
  };
  try {
    for (const arch of loaded.definition.arches) {
      for (const variant of Object.keys(loaded.definition.variants)) {
        const previousCommit = (await previousCommitOf(ctx.composeDir, ctx.definition, variant, arch))?.commit;
        const inputs = await imageTaskInputs(loaded, ctx.state, variant, arch, trust, {
          ...(options.bootTest ? { bootTest: options.bootTest } : {}),
          ...(previousCommit ? { previousCommit } : {}),
        });
        const key = await imageTaskKey(inputs);
        const taken = await takeOverImageTask(ctx, variant, arch, key);
        if (taken) {
          reused.push(taken);
          ctx.emit({
            phase: "rootfs",
            kind: "note",
            text: `${variant}/${arch}: image task's results reused from ${taken.reusedFrom} (same inputs): no task queued`,
          });
          continue;
        }
        const snapshot = await upload(inputs.snapshot);
        const definitionFiles = await upload(inputs.definitionFiles);
        const request = {
          definitionFile: inputs.definitionFile,
          definition: inputs.definition,
          variant,
          arch,
          snapshot,
          definitionFiles,
          state: inputs.state,
        };
        const { task: id } = await client.queueComposeImage(ctx.composeId, request);
        queued.push({ id, variant, arch, key, ...(previousCommit ? { parent: previousCommit } : {}) });
        ctx.logger.info({ task: id, variant, arch, files: snapshot.length + definitionFiles.length }, "image task queued");
        ctx.emit({ phase: "rootfs", kind: "image-task", variant, arch, task: id, state: "free", host: null });
      }
    }
    if (queued.length === 0) return reused;
    const finished = await watchQueued(ctx, client, queued, "rootfs");
    const checked: CheckedImageTask[] = [...reused];
    for (const [i, task] of finished.entries()) {
      const q = queued[i]!;
      if (task.state !== "closed") throw taskFailed(hub.url, "image task", q, task);
      checked.push(await downloadTask(ctx, client, q, task));
    }
    return checked;
  } catch (error) {
    throw await stopQueued(ctx, client, queued, error);
  }
}

/** A finished task's files into work/image-tasks/<variant>-<arch>/ (each checked against its SHA256), checked with its result. */
async function downloadTask(
  ctx: PhaseContext,
  client: { downloadArtifact(sha256: string, path: string): Promise<void> },
  q: { id: number; variant: string; arch: string; key: string; parent?: string },
  task: TaskDetail,
): Promise<CheckedImageTask> {
  const dir = join(ctx.composeDir, "work", "image-tasks", `${q.variant}-${q.arch}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const file of task.files) {
    if (!IMAGE_FILE_NAME.test(file.name))
      throw composeError("IMAGE_RESULT_REFUSED", `image task ${q.id}: file ${JSON.stringify(file.name)} is not a plain name`);
    await client.downloadArtifact(file.sha256, join(dir, file.name));
  }
  const image = (task.result as { image?: unknown } | null)?.image;
  const repository = task.files.find((f) => f.kind === "ostree-commit");
  const checked = await checkImageTask({
    dir,
    files: task.files,
    result: image,
    ...(q.parent ? { parent: q.parent } : {}),
    ...(task.host ? { host: task.host } : {}),
  });
  if (checked.result.variant !== q.variant || checked.result.arch !== q.arch)
    throw composeError(
      "IMAGE_RESULT_REFUSED",
      `image task ${q.id} of ${q.variant}/${q.arch} answers for ${checked.result.variant}/${checked.result.arch}`,
    );
  // the refs come from the definition, never from the builder: they become ostree arguments and origins
  const { ostree } = checked.result;
  const ref = ostreeRef(ctx.definition, q.variant, q.arch);
  if (ostree && ostree.ref !== ref)
    throw composeError(
      "IMAGE_RESULT_REFUSED",
      `image task ${q.id}: its commit is on ${JSON.stringify(ostree.ref)}, the definition's ref is ${ref}`,
    );
  if (ostree && ostree.parent !== q.parent)
    throw composeError(
      "IMAGE_RESULT_REFUSED",
      `image task ${q.id}: its commit's parent is ${ostree.parent ?? "none"}, the task was sent ${q.parent ?? "none"}`,
    );
  // the disk images are the diskImage task's, of the commit once signed here: none may come before it
  if (checked.result.disk || checked.result.bootTests)
    throw composeError("IMAGE_RESULT_REFUSED", `image task ${q.id}: it brings disk images of a commit not signed yet`);
  ctx.emit({
    phase: "rootfs",
    kind: "note",
    text: `${q.variant}/${q.arch}: made by image task ${q.id}${task.host ? ` on ${task.host}` : ""}`,
  });
  return { ...checked, key: q.key, ...(repository ? { repository: { sha256: repository.sha256, size: repository.size } } : {}) };
}

/**
 * The diskImage tasks of the commits placed (and signed) here: one per commit a composeImage task made,
 * when the definition wants disk images (a taken-over task brought its disk images along). Each request
 * sends the definition, the commit, the composeImage task's repository tar by its SHA256 (in the hub's
 * store already) and the commit's detached metadata as this compose's signing wrote it; the results are
 * downloaded beside the composeImage task's files and checked (placeDiskTaskResult).
 */
async function runDiskTasks(
  ctx: PhaseContext,
  options: HubImagePhasesOptions,
  tasks: readonly CheckedImageTask[],
): Promise<CheckedImageTask[]> {
  const { loaded } = options;
  const { outputs } = ctx.definition;
  const todo = tasks.filter((t) => !t.reusedFrom && t.result.ostree);
  if ((!outputs.includes("raw") && !outputs.includes("qcow2")) || todo.length === 0) return [...tasks];
  const hub = await options.connection.open(loaded.definition, loaded.baseDir);
  const { client } = hub;
  const definition = await readFile(loaded.path, "utf8");
  const repo = join(ctx.composeDir, "compose", "ostree", "repo");
  const queued: Array<QueuedTask & { task: CheckedImageTask; commit: string }> = [];
  try {
    for (const task of todo) {
      const { variant, arch } = task.result;
      const commit = task.result.ostree!.commit;
      if (!task.repository)
        throw composeError("IMAGE_RESULT_REFUSED", `${variant}/${arch}: the image task's result has a commit but no ostree-commit file`);
      // the detached metadata the signing wrote here (ostree keeps it beside the commit object)
      const commitmeta = ctx.definition.updates ? (await readFile(commitmetaPath(repo, commit))).toString("base64") : undefined;
      const { task: id } = await client.queueDiskImage(ctx.composeId, {
        definitionFile: basename(loaded.path),
        definition,
        variant,
        arch,
        commit: { checksum: commit, repository: task.repository, ...(commitmeta ? { commitmeta } : {}) },
        state: { ...(options.bootTest ? { bootTest: options.bootTest } : {}) },
      });
      queued.push({ id, variant, arch, task, commit });
      ctx.logger.info({ task: id, variant, arch, commit }, "disk image task queued");
      ctx.emit({ phase: "image-build", kind: "image-task", variant, arch, task: id, state: "free", host: null });
    }
    const finished = await watchQueued(ctx, client, queued, "image-build");
    const placed = new Map<CheckedImageTask, CheckedImageTask>();
    for (const [i, detail] of finished.entries()) {
      const q = queued[i]!;
      if (detail.state !== "closed") throw taskFailed(hub.url, "disk image task", q, detail);
      for (const file of detail.files) {
        if (!IMAGE_FILE_NAME.test(file.name) || q.task.files.has(file.name))
          throw composeError("IMAGE_RESULT_REFUSED", `disk image task ${q.id}: file ${JSON.stringify(file.name)} is not a new plain name`);
        await client.downloadArtifact(file.sha256, join(q.task.dir, file.name));
      }
      const merged = await placeDiskTaskResult(ctx, q.task, {
        files: detail.files,
        result: (detail.result as { image?: unknown } | null)?.image,
        ...(detail.host ? { host: detail.host } : {}),
      });
      placed.set(q.task, merged);
      ctx.emit({
        phase: "image-build",
        kind: "note",
        text: `${q.variant}/${q.arch}: disk images of ${q.commit.slice(0, 12)} made by disk image task ${q.id}${detail.host ? ` on ${detail.host}` : ""}`,
      });
    }
    return tasks.map((t) => placed.get(t) ?? t);
  } catch (error) {
    throw await stopQueued(ctx, client, queued, error);
  }
}
