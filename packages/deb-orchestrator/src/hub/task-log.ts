import { type FileHandle, open } from "node:fs/promises";

/**
 * Reading a task's live log, for every reader (the HTTP API, the web UI, `why`). A builder appends to
 * the log while it is read, so a read can end in the middle of a UTF-8 character: the incomplete end
 * is left for the next read, and a tail starts at a whole character. Offsets are bytes of the file.
 */

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
