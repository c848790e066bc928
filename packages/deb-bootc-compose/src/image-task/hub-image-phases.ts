import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { coreError, isCodedError } from "@debian-bootc/core";
import { HubEvents, type TaskDetail, watchTask } from "@debian-bootc/deb-orchestrator";
import type { OrchestratorConnection } from "../build/orchestrator-connection.js";
import type { HubComposeRecord } from "../compose/hub-record.js";
import type { Phase, PhaseContext } from "../compose/phase-engine.js";
import type { LoadedDefinition } from "../definition.js";
import { composeError } from "../errors.js";
import { channelRef, ostreeRef, previousCommitOf } from "../ostree/ostree-phase.js";
import {
  type CheckedImageTask,
  checkImageTask,
  failedDiskImage,
  failOnDiskImageFailures,
  placeDiskImages,
  placeLogs,
  placeOciImages,
  placeOstreeCommits,
  placeRootfsDetails,
} from "./place-result.js";
import { imageTaskKey, recordImageTask, takeOverImageTask } from "./reuse-previous.js";
import { imageTaskInputs, imageTrustOf, type TaskInputFile } from "./task-inputs.js";
import { IMAGE_FILE_NAME } from "./task-result.js";
import type { ImageTaskState } from "./task-state.js";

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
  bootTest?: ImageTaskState["bootTest"];
}

/** What an image task's live log is called on the hub (the builder streams the command's output there). */
const IMAGE_LOG = "image.log";

/**
 * The image phases with `--images-on hub`: rootfs queues one composeImage task per variant/arch on the
 * compose's hub (the snapshot's and the definition's files uploaded first), waits for all of them and
 * downloads their files; ostree, oci and image-build then place what the tasks made into the compose as
 * the local phases leave it (place-result.ts), lint reports the builders' checks. Signing stays here.
 * The builders also boot their disk images to the marker when the compose's test phase runs (bootTest).
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
        await placeDiskImages(ctx, tasks);
        await placeLogs(ctx, tasks);
        // what the next compose may take over: every task placed whole (a failed disk image is made again)
        for (const task of tasks) if (!task.reusedFrom && !failedDiskImage(task.result)) await recordImageTask(ctx, task);
        failOnDiskImageFailures(tasks);
      },
    },
  ];
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
    // every task at once: one event stream wakes all the watchers
    if (queued.length === 0) return reused;
    const events = new HubEvents(client);
    let finished: TaskDetail[];
    try {
      finished = await Promise.all(
        queued.map((q) =>
          watchTask(client, q.id, {
            events,
            signal: ctx.signal,
            onChange: (task) => {
              if (task.id !== q.id) return;
              ctx.logger.info({ task: q.id, state: task.state, host: task.host, attempts: task.attempts }, "image task");
              ctx.emit({
                phase: "rootfs",
                kind: "image-task",
                variant: q.variant,
                arch: q.arch,
                task: q.id,
                state: task.state,
                host: task.host,
              });
            },
          }),
        ),
      );
    } finally {
      await events.close();
    }
    if (ctx.signal.aborted) throw coreError("INTERRUPTED", "interrupted while the image tasks ran");
    const checked: CheckedImageTask[] = [...reused];
    for (const [i, task] of finished.entries()) {
      const q = queued[i]!;
      if (task.state !== "closed") {
        const log = `${hub.url}/api/v1/tasks/${q.id}/logs/${IMAGE_LOG}`;
        throw composeError(
          "IMAGE_PHASES_FAILED",
          `${q.variant}/${q.arch}: image task ${q.id} ${task.state}${task.error ? `: ${task.error.code}: ${task.error.message}` : ""}`,
          {
            hint: `its log: ${log} (deb-orchestrator task log ${q.id} ${IMAGE_LOG})`,
            details: { task: q.id, variant: q.variant, arch: q.arch },
          },
        );
      }
      checked.push(await downloadTask(ctx, client, q, task));
    }
    return checked;
  } catch (error) {
    // the compose ends: tasks it queued stop too (the hub cancels them as well once the compose has ended)
    if (ctx.signal.aborted || !isCodedError(error, "IMAGE_PHASES_FAILED"))
      for (const q of queued) await client.cancelTask(q.id).catch(() => {});
    throw error;
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
  const { ostree, disk } = checked.result;
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
  if (disk && (disk.commit !== ostree?.commit || disk.ref !== (channelRef(ctx.definition, q.variant, q.arch) ?? ref)))
    throw composeError(
      "IMAGE_RESULT_REFUSED",
      `image task ${q.id}: its disk image deploys ${disk.ref} at ${disk.commit}, not the task's commit`,
    );
  ctx.emit({
    phase: "rootfs",
    kind: "note",
    text: `${q.variant}/${q.arch}: made by image task ${q.id}${task.host ? ` on ${task.host}` : ""}`,
  });
  return { ...checked, key: q.key };
}
