import { open } from "node:fs/promises";
import { join } from "node:path";

/** The end of a task's log: at most `bytes` before its current end, starting at a line boundary. */
export async function logTail(dir: string, name: string, bytes = 64 * 1024): Promise<{ text: string; start: number; end: number }> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(join(dir, name), "r");
  } catch {
    return { text: "", start: 0, end: 0 };
  }
  try {
    const size = (await handle.stat()).size;
    let start = Math.max(0, size - bytes);
    const buffer = Buffer.alloc(size - start);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
    let data = buffer.subarray(0, bytesRead);
    if (start > 0) {
      const newline = data.indexOf(0x0a);
      if (newline >= 0 && newline < data.length - 1) {
        data = data.subarray(newline + 1);
        start += newline + 1;
      }
    }
    return { text: data.toString("utf8"), start, end: start + data.length };
  } finally {
    await handle.close();
  }
}

/** Bytes of a log from an offset (up to `max`), and where the next read starts; nothing when it does not exist yet. */
export async function readLogFrom(dir: string, name: string, offset: number, max = 256 * 1024): Promise<{ chunk: Buffer; next: number }> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(join(dir, name), "r");
  } catch {
    return { chunk: Buffer.alloc(0), next: offset };
  }
  try {
    const size = (await handle.stat()).size;
    if (size <= offset) return { chunk: Buffer.alloc(0), next: offset };
    const buffer = Buffer.alloc(Math.min(size - offset, max));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
    let chunk = buffer.subarray(0, bytesRead);
    // never split a UTF-8 character between two events: keep an incomplete tail for the next read
    let cut = chunk.length;
    for (let i = chunk.length - 1; i >= Math.max(0, chunk.length - 4); i--) {
      const byte = chunk[i]!;
      if ((byte & 0xc0) === 0x80) continue; // continuation byte
      if (byte >= 0xc0) {
        const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
        if (chunk.length - i < need) cut = i;
      }
      break;
    }
    chunk = chunk.subarray(0, cut);
    return { chunk, next: offset + chunk.length };
  } finally {
    await handle.close();
  }
}
