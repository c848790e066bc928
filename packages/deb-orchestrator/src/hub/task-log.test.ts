import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { readLogFrom, readLogTail } from "./task-log.js";

/** A log with this content in a temporary directory that is removed after the test. */
async function logWith(content: string | Buffer): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "task-log-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "build.log");
  await writeFile(path, content);
  return path;
}

describe("readLogFrom", () => {
  it("never ends a chunk inside a multi-byte character: the rest comes with the next read", async () => {
    const text = "a€b😀c";
    const path = await logWith(text);
    // every chunk size cuts some character in the middle; the chunks still decode to the whole text
    for (const max of [4, 5, 6, 7]) {
      let offset = 0;
      const pieces: string[] = [];
      for (let reads = 0; reads < 20 && offset < Buffer.byteLength(text); reads++) {
        const { chunk, next } = await readLogFrom(path, offset, { max });
        expect(chunk.toString("utf8")).not.toContain("\uFFFD");
        expect(next).toBe(offset + chunk.length);
        pieces.push(chunk.toString("utf8"));
        offset = next;
      }
      expect(pieces.join("")).toBe(text);
    }
    // "a" then the first two of the euro sign's three bytes: only "a" is read
    expect(await readLogFrom(path, 0, { max: 3 })).toEqual({ chunk: Buffer.from("a"), next: 1 });
  });

  it("keeps an incomplete end for the next read while the log grows, and sends it when the log is complete", async () => {
    const euro = Buffer.from("€");
    const path = await logWith(Buffer.concat([Buffer.from("ok "), euro.subarray(0, 2)]));
    expect(await readLogFrom(path, 0)).toEqual({ chunk: Buffer.from("ok "), next: 3 });
    expect((await readLogFrom(path, 3, { complete: true })).chunk).toEqual(euro.subarray(0, 2));
    await writeFile(path, Buffer.concat([Buffer.from("ok "), euro, Buffer.from("\n")]));
    expect((await readLogFrom(path, 3)).chunk.toString("utf8")).toBe("€\n");
  });

  it("reads nothing from a log that does not exist yet or has nothing past the offset", async () => {
    const path = await logWith("abc");
    expect(await readLogFrom(join(dirname(path), "missing.log"), 7)).toEqual({ chunk: Buffer.alloc(0), next: 7 });
    expect(await readLogFrom(path, 3)).toEqual({ chunk: Buffer.alloc(0), next: 3 });
  });
});

describe("readLogTail", () => {
  it("starts at a whole character when the tail begins inside one", async () => {
    const path = await logWith("xx€yz");
    // the last four bytes are the euro sign's last two, y and z
    expect(await readLogTail(path, 4)).toEqual({ text: "yz", start: 5, end: 7 });
    expect(await readLogTail(path, 5)).toEqual({ text: "€yz", start: 2, end: 7 });
  });

  it("starts at a line with wholeLines, and leaves out an incomplete last character", async () => {
    const path = await logWith(Buffer.concat([Buffer.from("first line\nsecond ü\n"), Buffer.from("€").subarray(0, 1)]));
    const tail = await readLogTail(path, 12, { wholeLines: true });
    expect(tail).toEqual({ text: "second ü\n", start: 11, end: 21 });
  });

  it("is undefined for a log that does not exist", async () => {
    expect(await readLogTail(join(dirname(await logWith("")), "missing.log"), 100)).toBeUndefined();
  });
});
