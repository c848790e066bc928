import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cachedIndex, INDEX_UNUSED_MS } from "./index-cache.js";
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

  it("writing a new index removes the texts unused for longer than INDEX_UNUSED_MS, and nothing else", async () => {
    dir = await mkdtemp(join(tmpdir(), "index-cache-"));
    const old = fakeReader("Package: old\n", "plain");
    const used = fakeReader("Package: used\n", "xz");
    await cachedIndex(old, "main/binary-amd64/Packages", dir);
    await cachedIndex(used, "main/binary-amd64/Packages", dir);
    const longAgo = new Date(Date.now() - INDEX_UNUSED_MS - 60_000);
    for (const name of await readdir(join(dir, "indexes"))) await utimes(join(dir, "indexes", name), longAgo, longAgo);
    // another file in the folder (a parsed index of deb-bootc-compose's) is not this cache's to judge
    await writeFile(join(dir, "indexes", "notes.txt"), "");
    await utimes(join(dir, "indexes", "notes.txt"), longAgo, longAgo);
    // a read marks a text as used
    expect((await cachedIndex(used, "main/binary-amd64/Packages", dir)).cached).toBe(true);
    await cachedIndex(fakeReader("Package: new\n", "plain"), "main/binary-amd64/Packages", dir);
    expect((await readdir(join(dir, "indexes"))).sort()).toEqual(
      [`${sha("xz:Package: used\n")}.decompressed`, sha("Package: new\n"), "notes.txt"].sort(),
    );
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
