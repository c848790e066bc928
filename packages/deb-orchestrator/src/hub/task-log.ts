import { appendFile, type FileHandle, mkdir, open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { orchestratorError } from "../errors.js";
import type { HubContext } from "./context.js";
import { checkFileName } from "./validate.js";

/**
 * Reading a task's live log, for every reader (the HTTP API, the web UI, `why`). A builder appends to
 * the log while it is read, so a read can end in the middle of a UTF-8 character: the incomplete end
 * is left for the next read, and a tail starts at a whole character. Offsets are bytes of the file.
 * Logs live in <dataDir>/logs/TASK/NAME, written only by appendTaskLog.
 */

export function logDir(ctx: Pick<HubContext, "dataDir">, taskId: number): string {
  return join(ctx.dataDir, "logs", String(taskId));
}

export async function listLogs(ctx: Pick<HubContext, "dataDir">, taskId: number): Promise<{ name: string; size: number }[]> {
  try {
    const names = await readdir(logDir(ctx, taskId));
    return Promise.all(names.sort().map(async (name) => ({ name, size: (await stat(join(logDir(ctx, taskId), name))).size })));
  } catch {
    return [];
  }
}

/** A builder's chunk of a task's live log, within the limit of log bytes per task. */
export async function appendTaskLog(ctx: HubContext, taskId: number, name: string, body: string | Buffer): Promise<void> {
  checkFileName(name, "log");
  const dir = logDir(ctx, taskId);
  await mkdir(dir, { recursive: true });
  const logged = (await listLogs(ctx, taskId)).reduce((sum, log) => sum + log.size, 0);
  if (logged + body.length > ctx.limits.maxTaskLogBytes)
    throw orchestratorError(
      "LOG_TOO_LARGE",
      `task ${taskId} has ${logged} bytes of logs; ${body.length} more would exceed the limit of ${ctx.limits.maxTaskLogBytes}`,
    );
  await appendFile(join(dir, name), body);
}

/** The end of a task's log as text (the last `bytes` at most), or undefined when there is none. */
export async function taskLogTail(
  ctx: Pick<HubContext, "dataDir">,
  taskId: number,
  name: string,
  bytes = 2000,
): Promise<string | undefined> {
  checkFileName(name, "log");
  return (await readLogTail(join(logDir(ctx, taskId), name), bytes))?.text;
}

/**
 * A log as it grows, from `offset`, in whole characters: the first chunk even when empty, then each new
 * one, until `closed()` or, once nothing more came, `ended()` (its end then sent as it is).
 */
export async function* followLog(
  path: string,
  offset: number,
  ended: () => Promise<boolean>,
  closed: () => boolean,
): AsyncGenerator<Buffer> {
  const readFrom = async (complete = false) => {
    const { chunk, next } = await readLogFrom(path, offset, { max: 1024 * 1024, complete });
    offset = next;
    return chunk;
  };
  yield await readFrom();
  while (!closed()) {
    const chunk = await readFrom();
    if (chunk.length) {
      yield chunk;
      continue;
    }
    if (await ended()) {
      const last = await readFrom(true);
      if (last.length) yield last;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export interface LogChunk {
  chunk: Buffer;
  /** where the next read starts */
  next: number;
}

export interface LogTail {
  text: string;
  /** byte offsets of the text in the log */
  start: number;
  end: number;
}

/**
 * Bytes of a log from `offset` (at most `max`), ending on a whole character unless `complete` (the log
 * will not grow: its end is sent as it is); nothing when the log does not exist yet.
 */
export async function readLogFrom(path: string, offset: number, options: { max?: number; complete?: boolean } = {}): Promise<LogChunk> {
  const { max = 256 * 1024, complete = false } = options;
  const read = await withLog(path, async (handle) => {
    const size = (await handle.stat()).size;
    if (size <= offset) return Buffer.alloc(0);
    const buffer = Buffer.alloc(Math.min(size - offset, max));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
    const chunk = buffer.subarray(0, bytesRead);
    return complete && offset + bytesRead >= size ? chunk : chunk.subarray(0, wholeCharactersEnd(chunk));
  });
  const chunk = read ?? Buffer.alloc(0);
  return { chunk, next: offset + chunk.length };
}

/**
 * The end of a log: at most `bytes` before its current end, from a whole character (and, with
 * `wholeLines`, from the start of a line when there is one); undefined when the log does not exist.
 */
export async function readLogTail(path: string, bytes: number, options: { wholeLines?: boolean } = {}): Promise<LogTail | undefined> {
  return withLog(path, async (handle) => {
    const size = (await handle.stat()).size;
    let start = Math.max(0, size - bytes);
    const buffer = Buffer.alloc(size - start);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
    let data = buffer.subarray(0, bytesRead);
    if (start > 0) {
      const newline = options.wholeLines ? data.indexOf(0x0a) : -1;
      const skip = newline >= 0 && newline < data.length - 1 ? newline + 1 : wholeCharactersStart(data);
      data = data.subarray(skip);
      start += skip;
    }
    data = data.subarray(0, wholeCharactersEnd(data));
    return { text: data.toString("utf8"), start, end: start + data.length };
  });
}

/** `read` over the open log, or undefined when the log does not exist. */
async function withLog<T>(path: string, read: (handle: FileHandle) => Promise<T>): Promise<T | undefined> {
  const handle = await open(path, "r").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  });
  if (!handle) return undefined;
  try {
    return await read(handle);
  } finally {
    await handle.close();
  }
}

/** How many leading bytes continue a character begun before the buffer (at most three). */
function wholeCharactersStart(data: Buffer): number {
  let skip = 0;
  while (skip < Math.min(3, data.length) && (data[skip]! & 0xc0) === 0x80) skip++;
  return skip;
}

/** The length of the buffer without an incomplete character at its end. */
function wholeCharactersEnd(data: Buffer): number {
  for (let i = data.length - 1; i >= Math.max(0, data.length - 4); i--) {
    const byte = data[i]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte
    if (byte >= 0xc0) {
      const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
      if (data.length - i < need) return i;
    }
    break;
  }
  return data.length;
}
