import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DISK_REPOSITORY_TAR, type DiskImageRequest, diskImageRequest } from "../api/tasks.js";
import { orchestratorError } from "../errors.js";

/*
 * The work directory of a diskImage task (the contract with `deb-bootc-compose disk-image W`):
 *   W/owner.json                the builder process that made W (task-work-dir.ts), written first
 *   W/request.json              the request as the hub gave it (the signature rides in it)
 *   W/definition/<file>         the definition's text
 *   W/inputs/ostree-repo.tar    the composeImage task's repository tar (the unsigned commit)
 *   W/out/                      empty; the command writes result.json and the files it lists there
 */

/**
 * Make W for a diskImage task: validate its request again (the definition's file name becomes a path
 * here), write it, the definition and an empty out/, and download the repository tar (the download checks
 * its sha256).
 */
export async function prepareDiskWorkDir(
  dir: string,
  raw: unknown,
  download: (sha256: string, path: string) => Promise<void>,
  signal: AbortSignal,
): Promise<DiskImageRequest> {
  const parsed = diskImageRequest.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw orchestratorError("REQUEST_INVALID", `diskImage request: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  const request = parsed.data;
  const inputs = join(dir, "inputs");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const sub of [inputs, join(dir, "definition"), join(dir, "out")]) await mkdir(sub);
  await writeFile(join(dir, "request.json"), JSON.stringify(raw));
  // one path component (the schema's regex): never '..', never a slash
  await writeFile(join(dir, "definition", request.definitionFile), request.definition);
  if (signal.aborted) throw signal.reason;
  await download(request.commit.repository.sha256, join(inputs, DISK_REPOSITORY_TAR));
  return request;
}
