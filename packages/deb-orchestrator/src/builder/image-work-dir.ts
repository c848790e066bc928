import { constants } from "node:fs";
import { lstat, mkdir, open, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { z } from "zod";
import { type ComposeImageRequest, composeImageRequest, pathConflict, type SnapshotFile } from "../api/tasks.js";
import { orchestratorError } from "../errors.js";

/*
 * The work directory of a composeImage task (the contract with `deb-bootc-compose image-task W`):
 *   W/owner.json     the builder process that made W (task-work-dir.ts), written first
 *   W/request.json   the request as the hub gave it
 *   W/definition/    the definition's text and the files it refers to
 *   W/snapshot/      the compose's APT snapshot
 *   W/out/           empty; the command writes result.json and the files it lists there
 */

/** How many artifacts download at once. */
const DOWNLOADS_AT_ONCE = 4;
/** result.json: its `result` at most 1 MiB, the file (with the list of files) at most 2 MiB. */
const MAX_RESULT_BYTES = 1024 * 1024;
const MAX_RESULT_FILE_BYTES = 2 * 1024 * 1024;

export const imageFileKinds = ["oci-archive", "ostree-commit", "disk-image", "log", "metadata"] as const;
const resultFileName = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,200}$/;

const imageResult = z.object({
  files: z.array(z.object({ name: z.string().regex(resultFileName, "one path component"), kind: z.enum(imageFileKinds) })).max(1000),
  result: z
    .record(z.string(), z.unknown())
    .refine((result) => Buffer.byteLength(JSON.stringify(result)) <= MAX_RESULT_BYTES, "at most 1 MiB once serialised"),
});

export interface ImageResult {
  files: { path: string; name: string; kind: (typeof imageFileKinds)[number] }[];
  /** result.json's `result`: what the client needs to rebuild its records (opaque here). */
  image: Record<string, unknown>;
}

/** `base/relative`, refused unless it stays inside base (the schema's regex already refuses '..' and absolute paths). */
function inside(base: string, relative: string): string {
  const path = resolve(base, relative);
  if (!path.startsWith(`${resolve(base)}${sep}`)) throw orchestratorError("PATH_INVALID", `'${relative}' leaves ${base}`);
  return path;
}

/**
 * Run `work` over items, at most `limit` at a time; the first failure stops the rest and is thrown once
 * every lane has stopped (so nothing still writes into W when it is removed).
 */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const lanes = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, lane));
  const failure = lanes.find((lane) => lane.status === "rejected");
  if (failure) throw failure.reason;
}

/**
 * Make W for a composeImage task: validate its request again (the builder trusts the hub no more than the
 * hub trusts the client: every name becomes a path here), write it, the definition and an empty out/, and
 * download the snapshot's and the definition's files (each download checks its sha256).
 */
export async function prepareImageWorkDir(
  dir: string,
  raw: unknown,
  download: (sha256: string, path: string) => Promise<void>,
  signal: AbortSignal,
): Promise<ComposeImageRequest> {
  const parsed = composeImageRequest.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw orchestratorError("REQUEST_INVALID", `composeImage request: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  const request = parsed.data;
  const conflict =
    pathConflict(request.snapshot.map((f) => f.path)) ??
    pathConflict([request.definitionFile, ...request.definitionFiles.map((f) => f.path)]);
  if (conflict) throw orchestratorError("PATH_INVALID", `composeImage request: ${conflict}`);
  const definitionDir = join(dir, "definition");
  const snapshotDir = join(dir, "snapshot");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const sub of [definitionDir, snapshotDir, join(dir, "out")]) await mkdir(sub);
  await writeFile(join(dir, "request.json"), JSON.stringify(raw));
  await writeFile(inside(definitionDir, request.definitionFile), request.definition);
  const files: [string, SnapshotFile][] = [
    ...request.definitionFiles.map((f): [string, SnapshotFile] => [definitionDir, f]),
    ...request.snapshot.map((f): [string, SnapshotFile] => [snapshotDir, f]),
  ];
  await eachLimited(files, DOWNLOADS_AT_ONCE, async ([base, file]) => {
    if (signal.aborted) throw signal.reason;
    const path = inside(base, file.path);
    await mkdir(dirname(path), { recursive: true });
    await download(file.sha256, path);
  });
  return request;
}

function invalid(message: string): Error {
  return orchestratorError("IMAGE_RESULT_INVALID", `image task result: ${message}`);
}

/** A regular file directly in out/ (lstat: a symlink is not one, whatever it points at). */
async function regularFile(path: string, name: string): Promise<void> {
  const stat = await lstat(path).catch(() => undefined);
  if (!stat) throw invalid(`'${name}' is listed but missing from out/`);
  if (!stat.isFile())
    throw invalid(`'${name}' is not a regular file (${stat.isSymbolicLink() ? "a symlink" : "a directory or special file"})`);
}

/**
 * Read and check W/out/result.json after the command succeeded: its size, its schema, every name one
 * path component listed once, every file a regular file directly in out/. Nothing is uploaded unless
 * all of it holds.
 */
export async function readImageResult(outDir: string): Promise<ImageResult> {
  let text: string;
  try {
    // O_NOFOLLOW: a result.json that is a symlink is refused, not followed
    const handle = await open(join(outDir, "result.json"), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw invalid("result.json is not a regular file");
      if (stat.size > MAX_RESULT_FILE_BYTES) throw invalid(`result.json has ${stat.size} bytes, more than ${MAX_RESULT_FILE_BYTES}`);
      text = await readFile(handle, "utf8");
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw invalid("the command succeeded but wrote no out/result.json");
    if ((error as NodeJS.ErrnoException).code === "ELOOP") throw invalid("result.json is a symlink");
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid("result.json is not JSON");
  }
  const parsed = imageResult.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(`result.json: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  const names = new Set<string>();
  const files: ImageResult["files"] = [];
  for (const file of parsed.data.files) {
    if (names.has(file.name)) throw invalid(`'${file.name}' is listed twice`);
    names.add(file.name);
    const path = inside(outDir, file.name);
    await regularFile(path, file.name);
    files.push({ path, name: file.name, kind: file.kind });
  }
  return { files, image: parsed.data.result };
}
