import { copyFile, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { coreError, run } from "@debian-bootc/core";
import { HubEvents, type TaskDetail, type UpdateTestRequest, watchTask } from "@debian-bootc/deb-orchestrator";
import { resultsLogPath } from "../boot/boot-test.js";
import type { UpdateTestJob, UpdateTestOn, UpdateTestOutcome } from "../boot/test-phase.js";
import type { OrchestratorConnection } from "../build/orchestrator-connection.js";
import type { HubComposeRecord } from "../compose/hub-record.js";
import type { LoadedDefinition } from "../definition.js";
import { composeError } from "../errors.js";
import { IMAGE_FILE_NAME } from "./task-result.js";
import { parseUpdateResult, type UpdateTestRecord } from "./update-result.js";

export interface HubUpdateTestOptions {
  loaded: LoadedDefinition;
  connection: OrchestratorConnection;
  /** The compose's record on the hub: tasks are queued for a compose the hub has. */
  record: HubComposeRecord;
}

/** The builder streams the command's output to its task's image.log, as for composeImage. */
const LIVE_LOG = "image.log";

/**
 * The update test on a builder (--images-on hub): the scratch repository, signed here, goes as a tar with
 * the previous image (uploaded unless the hub's store has it, as it usually has: a builder made it) to an
 * updateTest task; its logs come back to where the local test leaves them. The private key stays here.
 */
export function updateTestOnHub(options: HubUpdateTestOptions): UpdateTestOn {
  return async (ctx, job) => {
    const { loaded } = options;
    const hub = await options.connection.open(loaded.definition, loaded.baseDir);
    if (!(await options.record.recorded()))
      throw composeError(
        "BOOT_TEST_FAILED",
        `${hub.url} has no record of ${ctx.composeId}: an update test is queued for a compose the hub has`,
      );
    const { client } = hub;
    const tar = join(job.workDir, "repository.tar");
    // the repository's own entries at the top: the builder unpacks them into a fresh directory
    const entries = (await readdir(job.publishedRepo)).sort();
    await run("tar", ["--create", "--file", tar, "--directory", job.publishedRepo, "--", ...entries], { signal: ctx.signal });
    const image = await client.uploadFileOnce(job.previous.image);
    const repository = await client.uploadFileOnce(tar);
    const request: Omit<UpdateTestRequest, "compose"> = {
      variant: job.variant,
      arch: job.arch,
      image: { name: image.name, format: job.previous.format, sha256: image.sha256, size: image.size },
      repository: { sha256: repository.sha256, size: repository.size },
      remote: job.remote,
      firmware: job.firmware,
      from: job.from,
      to: job.to,
      ...(job.accel ? { accel: job.accel } : {}),
    };
    const { task: id } = await client.queueUpdateTest(ctx.composeId, request);
    ctx.logger.info({ task: id, variant: job.variant, arch: job.arch }, "update test queued");
    ctx.emit({ phase: "test", kind: "note", text: `${job.variant}/${job.arch}: update test queued as task ${id}` });
    let task: TaskDetail;
    const events = new HubEvents(client);
    try {
      task = await watchTask(client, id, { events, signal: ctx.signal });
    } catch (error) {
      await client.cancelTask(id).catch(() => {});
      throw error;
    } finally {
      await events.close();
    }
    if (ctx.signal.aborted) {
      await client.cancelTask(id).catch(() => {});
      throw coreError("INTERRUPTED", "interrupted while the update test ran");
    }
    if (task.state !== "closed")
      throw composeError(
        "BOOT_TEST_FAILED",
        `update test task ${id} ${task.state}${task.error ? `: ${task.error.code}: ${task.error.message}` : ""}`,
        { hint: `its log: ${hub.url}/api/v1/tasks/${id}/logs/${LIVE_LOG}` },
      );
    const update = checkUpdateResult(id, task, job, image.name);
    ctx.emit({
      phase: "test",
      kind: "note",
      text: `${job.variant}/${job.arch}: update test ran as task ${id}${task.host ? ` on ${task.host}` : ""}`,
    });
    return placeUpdateLogs(client, id, task, job, update);
  };
}

function refused(id: number, message: string): Error {
  return composeError("IMAGE_RESULT_REFUSED", `update test task ${id}: ${message}`);
}

/**
 * The task's record, strictly: its schema (an unknown field refused), and that it answers for what was
 * sent: the variant and arch, the image, the from and to commits; its logs among the task's files.
 */
export function checkUpdateResult(
  id: number,
  task: Pick<TaskDetail, "result" | "files">,
  job: Pick<UpdateTestJob, "variant" | "arch" | "from" | "to">,
  imageName: string,
): UpdateTestRecord {
  const update = parseUpdateResult((task.result as { image?: unknown } | null)?.image);
  if (update.variant !== job.variant || update.arch !== job.arch)
    throw refused(id, `it answers for ${update.variant}/${update.arch}, the task was ${job.variant}/${job.arch}`);
  if (update.image !== imageName) throw refused(id, `it booted ${JSON.stringify(update.image)}, the task sent ${imageName}`);
  if (update.from.commit !== job.from.commit || update.to.commit !== job.to.commit || update.to.composeId !== job.to.composeId)
    throw refused(id, `it tested ${update.from.commit} -> ${update.to.commit}, the task was ${job.from.commit} -> ${job.to.commit}`);
  for (const log of [update.consoleLog, update.resultsLog])
    if (log !== undefined && !task.files.some((f) => f.name === log && f.kind === "log"))
      throw refused(id, `its log ${JSON.stringify(log)} is not among the task's files`);
  return update;
}

/** The task's logs into logs/ where the local test leaves them (each download checked against its SHA256); the record's outcome. */
async function placeUpdateLogs(
  client: { downloadArtifact(sha256: string, path: string): Promise<void> },
  id: number,
  task: TaskDetail,
  job: UpdateTestJob,
  update: UpdateTestRecord,
): Promise<UpdateTestOutcome> {
  const dir = join(job.workDir, `task-${id}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const placed: Partial<Record<"consoleLog" | "resultsLog", string>> = {};
  const targets = { consoleLog: job.consoleLog, resultsLog: resultsLogPath(job.consoleLog) };
  for (const key of ["consoleLog", "resultsLog"] as const) {
    const name = update[key];
    if (name === undefined) continue;
    if (!IMAGE_FILE_NAME.test(name)) throw refused(id, `file ${JSON.stringify(name)} is not a plain name`);
    const file = task.files.find((f) => f.name === name)!;
    await client.downloadArtifact(file.sha256, join(dir, name));
    await mkdir(join(job.consoleLog, ".."), { recursive: true });
    await copyFile(join(dir, name), targets[key]);
    placed[key] = targets[key];
  }
  return {
    passed: update.passed,
    accel: update.accel,
    ...(update.accelReason ? { accelReason: update.accelReason } : {}),
    message: update.message,
    steps: update.steps,
    ...placed,
    ...(update.served ? { served: update.served } : {}),
  };
}
