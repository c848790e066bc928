import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cachedIndex } from "./index-cache.js";
import type { AptRepositoryReader } from "./repository-reader.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

function fakeReader(text: string, listed: "plain" | "xz"): AptRepositoryReader & { fetches: number } {
  const path = "main/binary-amd64/Packages";
  const files = new Map([
    [listed === "plain" ? path : `${path}.xz`, { path, size: text.length, sha256: sha(listed === "plain" ? text : `xz:${text}`) }],
  ]);
  const reader = {
    fetches: 0,
    release: { files },
    async fetchIndex() {
      reader.fetches++;
      return Buffer.from(text);
    },
  };
  return reader as unknown as AptRepositoryReader & { fetches: number };
}

describe("cachedIndex", () => {
  let dir = "";
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("fetches once per Release hash and serves the cache afterwards", async () => {
    dir = await mkdtemp(join(tmpdir(), "index-cache-"));
    const reader = fakeReader("Package: a\n", "plain");
    expect(await cachedIndex(reader, "main/binary-amd64/Packages", dir)).toEqual({ text: "Package: a\n", cached: false });
    expect(await cachedIndex(reader, "main/binary-amd64/Packages", dir)).toEqual({ text: "Package: a\n", cached: true });
    expect(reader.fetches).toBe(1);
    expect(await readdir(join(dir, "indexes"))).toEqual([sha("Package: a\n")]);
    // a new Release (another hash) is a new file
    const newer = fakeReader("Package: b\n", "xz");
    expect(await cachedIndex(newer, "main/binary-amd64/Packages", dir)).toEqual({ text: "Package: b\n", cached: false });
    expect(newer.fetches).toBe(1);
  });

  it("fetches again when a cached file no longer matches its hash", async () => {
    dir = await mkdtemp(join(tmpdir(), "index-cache-"));
    const reader = fakeReader("Package: a\n", "plain");
    await cachedIndex(reader, "main/binary-amd64/Packages", dir);
    await writeFile(join(dir, "indexes", sha("Package: a\n")), "Package: tampered\n");
    expect(await cachedIndex(reader, "main/binary-amd64/Packages", dir)).toEqual({ text: "Package: a\n", cached: false });
    expect(reader.fetches).toBe(2);
  });
});
