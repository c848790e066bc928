import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { isCodedError } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cachePath, type DownloadItem, downloadAll } from "./downloader.js";

let dir: string;
const items: DownloadItem[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gather-"));
  for (const name of ["a", "b", "c"]) {
    const content = Buffer.from(`content of ${name}\n`.repeat(100));
    await writeFile(join(dir, `${name}.deb`), content);
    items.push({
      name,
      version: "1.0",
      url: pathToFileURL(join(dir, `${name}.deb`)).href,
      size: content.length,
      sha256: createHash("sha256").update(content).digest("hex"),
    });
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isCodedError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error("expected an error");
}

describe("downloadAll", () => {
  it("fills the content-addressed cache, then reuses it", async () => {
    const cacheDir = join(dir, "cache1");
    const events: string[] = [];
    const first = await downloadAll([...items, items[0]!], {
      cacheDir,
      parallel: 2,
      onProgress: (p) => events.push(`${p.item.name}:${p.cached}`),
    });
    expect([first.downloaded, first.cached, first.files.size]).toEqual([3, 0, 3]);
    expect(events.sort()).toEqual(["a:false", "b:false", "c:false"]);
    expect(await readFile(cachePath(cacheDir, items[1]!.sha256), "utf8")).toContain("content of b");
    const second = await downloadAll(items, { cacheDir });
    expect([second.downloaded, second.cached]).toEqual([0, 3]);
  });

  it("fetches again a cached file whose content is wrong", async () => {
    const cacheDir = join(dir, "cache2");
    await downloadAll(items.slice(0, 1), { cacheDir });
    const path = cachePath(cacheDir, items[0]!.sha256);
    await writeFile(path, "X".repeat(items[0]!.size));
    const again = await downloadAll(items.slice(0, 1), { cacheDir });
    expect(again.downloaded).toBe(1);
    expect((await readFile(path, "utf8")).startsWith("content of a")).toBe(true);
  });

  it("names every missing package and its URL", async () => {
    const missing = [
      { ...items[0]!, name: "gone1", url: pathToFileURL(join(dir, "gone1.deb")).href, sha256: "1".repeat(64) },
      { ...items[0]!, name: "gone2", url: pathToFileURL(join(dir, "gone2.deb")).href, sha256: "2".repeat(64) },
    ];
    const one = await codeOf(downloadAll([missing[0]!, items[1]!], { cacheDir: join(dir, "cache3") }));
    expect(one).toEqual({ code: "GATHER_MISSING", message: `gone1 1.0: ${missing[0]!.url} is not on the mirror (no such file)` });
    const two = await codeOf(downloadAll(missing, { cacheDir: join(dir, "cache3") }));
    expect(two.message).toBe(
      `2 packages are not on the mirror:\ngone1 1.0: ${missing[0]!.url} is not on the mirror (no such file)\ngone2 1.0: ${missing[1]!.url} is not on the mirror (no such file)`,
    );
  });

  it("refuses content that differs from the index and leaves nothing in the cache", async () => {
    const cacheDir = join(dir, "cache4");
    const wrong = { ...items[2]!, sha256: "f".repeat(64) };
    const error = await codeOf(downloadAll([wrong], { cacheDir }));
    expect(error.code).toBe("GATHER_FAILED");
    expect(error.message).toContain(`SHA256 ${items[2]!.sha256}, the index says ${items[2]!.size} bytes with ${"f".repeat(64)}`);
    await expect(readFile(cachePath(cacheDir, wrong.sha256))).rejects.toThrow();
    const short = await codeOf(downloadAll([{ ...items[2]!, size: 10 }], { cacheDir }));
    expect(short.message).toContain("is larger than the 10 bytes the index gives");
  });

  it("refuses an index SHA256 or size that is not one, before any path is made of it", async () => {
    const cacheDir = join(dir, "deep", "cache5");
    for (const bad of [
      { ...items[0]!, sha256: "../../escaped" },
      { ...items[0]!, sha256: "A".repeat(64) },
      { ...items[0]!, size: -1 },
      { ...items[0]!, size: 1.5 },
    ]) {
      const error = await codeOf(downloadAll([bad], { cacheDir }));
      expect(error.code).toBe("GATHER_FAILED");
      expect(error.message).toContain("not 64 hex digits and a byte count");
    }
    // refused before the cache directory was even made
    await expect(readdir(join(dir, "deep"))).rejects.toThrow(/ENOENT/);
  });
});
