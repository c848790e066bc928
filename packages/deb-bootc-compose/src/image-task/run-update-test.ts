import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { type Logger, pathExists, writeFileAtomic } from "@debian-bootc/core";
import { UPDATE_REPOSITORY_TAR, type UpdateTestRequest, updateTestRequest } from "@debian-bootc/deb-orchestrator";
import { httpUpdateTest, resultsLogPath } from "../boot/boot-test.js";
import { composeError } from "../errors.js";
import { extractTarSafely } from "./safe-tar.js";
import { BOOT_MESSAGE_MAX } from "./task-result.js";
import { type UpdateResultJson, type UpdateTestRecord, updateResultJsonSchema } from "./update-result.js";

/** Where an update test's console goes in W/out (its results log beside it): the name the client's logs/ has, prefixed. */
export function updateLogName(variant: string, arch: string): string {
  return `log-boot-${variant}-${arch}-update.log`;
}

/** Read and check W/request.json as an updateTest request, and that the previous image is a regular file in W/inputs. */
export async function readUpdateTestRequest(workDir: string): Promise<{ request: UpdateTestRequest; image: string }> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(join(workDir, "request.json"), "utf8"));
  } catch (error) {
    throw composeError("IMAGE_TASK_REQUEST_INVALID", `${join(workDir, "request.json")}: ${(error as Error).message}`, { cause: error });
  }
  const parsed = updateTestRequest.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw composeError("IMAGE_TASK_REQUEST_INVALID", `request.json: ${issue.path.join(".")}: ${issue.message}`, {
      details: { field: issue.path.join(".") },
    });
  }
  const request = parsed.data;
  const image = join(workDir, "inputs", request.image.name);
  // lstat: a symlink is not the image, whatever it points at
  const stat = await lstat(image).catch(() => undefined);
  if (!stat?.isFile())
    throw composeError("IMAGE_TASK_REQUEST_INVALID", `inputs/${request.image.name}: the previous image is not a regular file in W/inputs`);
  return { request, image };
}

/**
 * `update-test W`: the A/B update boot test of a compose made elsewhere, on a builder. The signed scratch
 * repository comes as a tar (the client signed it: the channel's private key never leaves the client),
 * unpacked with the safe extraction; the previous image is booted from W/inputs, upgraded over HTTP from
 * a loopback server, rebooted into the new commit, rolled back (boot-test.ts's httpUpdateTest). A failed
 * boot is a record that did not pass, not a failure of the command. W/out/result.json names the logs.
 */
export async function runUpdateTestTask(options: { workDir: string; signal?: AbortSignal; logger?: Logger }): Promise<UpdateResultJson> {
  const { workDir, signal } = options;
  const { request, image } = await readUpdateTestRequest(workDir);
  const { variant, arch } = request;
  const out = join(workDir, "out");
  const repository = join(workDir, "repository");
  await extractTarSafely(join(workDir, "inputs", UPDATE_REPOSITORY_TAR), repository, signal ? { signal } : {});
  const consoleLog = join(out, updateLogName(variant, arch));
  const started = Date.now();
  const base = { variant, arch, kind: "update" as const, image: request.image.name, from: request.from, to: request.to };
  // a message names the logs by their names in the result (the client has them under its own logs/), not by the builder's path
  const bounded = (message: string) => message.replaceAll(`${out}/`, "").slice(0, BOOT_MESSAGE_MAX);
  let update: UpdateTestRecord;
  try {
    const result = await httpUpdateTest({
      image,
      format: request.image.format,
      workDir: join(workDir, "boot"),
      consoleLog,
      ...(request.accel ? { accel: request.accel } : {}),
      firmware: request.firmware,
      publishedRepo: repository,
      remote: request.remote,
      from: request.from,
      to: request.to,
      ...(options.logger ? { logger: options.logger } : {}),
      ...(signal ? { signal } : {}),
    });
    update = {
      ...base,
      passed: result.passed,
      accel: result.accel,
      ...(result.accelReason ? { accelReason: result.accelReason } : {}),
      message: bounded(result.message),
      steps: result.steps,
      durationMs: Date.now() - started,
      served: result.served,
    };
  } catch (error) {
    if (signal?.aborted) throw error;
    update = {
      ...base,
      passed: false,
      accel: request.accel ?? "tcg",
      message: bounded((error as Error).message),
      steps: [],
      durationMs: Date.now() - started,
    };
  }
  const files: UpdateResultJson["files"] = [];
  const logs = { consoleLog, resultsLog: resultsLogPath(consoleLog) };
  for (const [key, path] of Object.entries(logs) as Array<[keyof typeof logs, string]>) {
    if (!(await pathExists(path))) continue;
    const name = path.slice(out.length + 1);
    update[key] = name;
    files.push({ name, kind: "log" });
  }
  // JSON's round trip drops the undefined fields the steps carry before the strict schema reads them
  const result = updateResultJsonSchema.parse(JSON.parse(JSON.stringify({ files, result: { update } })));
  await writeFileAtomic(join(out, "result.json"), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}
