import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { UPDATE_REPOSITORY_TAR, type UpdateTestRequest, updateTestRequest } from "../api/tasks.js";
import { orchestratorError } from "../errors.js";

/*
 * The work directory of an updateTest task (the contract with `deb-bootc-compose update-test W`):
 *   W/owner.json               the builder process that made W (task-work-dir.ts), written first
 *   W/request.json             the request as the hub gave it
 *   W/inputs/<image name>      the previous compose's disk image
 *   W/inputs/repository.tar    the signed scratch channel repository (both commits)
 *   W/out/                     empty; the command writes result.json and the logs it lists there
 */

/**
 * Make W for an updateTest task: validate its request again (the image's name becomes a path here), write
 * it and an empty out/, and download the previous image and the repository tar (each download checks its
 * sha256).
 */
export async function prepareUpdateWorkDir(
  dir: string,
  raw: unknown,
  download: (sha256: string, path: string) => Promise<void>,
  signal: AbortSignal,
): Promise<UpdateTestRequest> {
  const parsed = updateTestRequest.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw orchestratorError("REQUEST_INVALID", `updateTest request: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  const request = parsed.data;
  const inputs = join(dir, "inputs");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const sub of [inputs, join(dir, "out")]) await mkdir(sub);
  await writeFile(join(dir, "request.json"), JSON.stringify(raw));
  for (const [sha256, name] of [
    [request.image.sha256, request.image.name],
    [request.repository.sha256, UPDATE_REPOSITORY_TAR],
  ] as const) {
    if (signal.aborted) throw signal.reason;
    await download(sha256, join(inputs, name));
  }
  return request;
}
