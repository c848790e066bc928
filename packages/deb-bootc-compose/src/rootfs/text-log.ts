import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * A plain-text log under logs/ for the output of long tools (mmdebstrap, dracut, ostree, qemu's serial
 * console): chunks are appended as they arrive; `line` adds a header line of our own.
 */
export interface TextLog {
  path: string;
  write(chunk: Buffer | string): void;
  line(text: string): void;
  close(): Promise<void>;
}

export async function openTextLog(path: string): Promise<TextLog> {
  await mkdir(dirname(path), { recursive: true });
  const stream: WriteStream = createWriteStream(path, { flags: "a" });
  return {
    path,
    write: (chunk) => {
      stream.write(chunk);
    },
    line: (text) => {
      stream.write(`== ${new Date().toISOString()} ${text}\n`);
    },
    close: () => new Promise<void>((resolve) => stream.end(resolve)),
  };
}
