import { createHash } from "node:crypto";
import { mkdir, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { AptRepositoryReader } from "@debian-bootc/debian";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { cachedPackages, parsedIndexFile, parserCodeHash, pruneIndexCache } from "./parsed-index-cache.js";

const PATH = "main/binary-amd64/Packages";

function stanza(name: string, version: string): string {
  return `Package: ${name}\nVersion: ${version}\nArchitecture: amd64\nDepends: libc6 (>= 2.36)\nFilename: pool/main/${name[0]}/${name}/${name}_${version}_amd64.deb\nSize: 100\nSHA256: ${"ab".repeat(32)}\n`;
}

/** A verified repository as loadIndexes sees it: a Release listing the index's SHA256, and the index itself. */
function reader(text: string): AptRepositoryReader & { fetched: number } {
  const sha256 = createHash("sha256").update(text).digest("hex");
  const r = {
    url: "http://127.0.0.1:1/debian",
    suite: "trixie",
    release: { files: new Map([[PATH, { sha256, size: Buffer.byteLength(text) }]]) },
    fetched: 0,
    async fetchIndex(path: string) {
      expect(path).toBe(PATH);
      r.fetched++;
      return Buffer.from(text);
    },
  };
  return r as unknown as AptRepositoryReader & { fetched: number };
}

const origin = (suite: string) => ({ repository: "debian", url: "http://127.0.0.1:1/debian", suite, component: "main" });

describe("cachedPackages (a Packages index parsed once per index and parsing code)", () => {
  const scratch = useTempDir("parsed-index-");

  it("parses an index once: a second load of the same index takes the packages, with this load's origin", async () => {
    const r = reader(`${stanza("hello", "2.10-3")}MD5sum: ${"CD".repeat(16)}\n\n${stanza("less", "668-1")}MD5sum: 1234\n`);
    const first = await cachedPackages(r, PATH, scratch(), origin("trixie"));
    expect(first).toMatchObject({ cached: false, parsedCached: false });
    expect(first.packages.map((p) => `${p.name} ${p.version}`)).toEqual(["hello 2.10-3", "less 668-1"]);
    expect(first.packages.map((p) => p.md5)).toEqual(["cd".repeat(16), undefined]); // a malformed MD5sum is left out

    const again = await cachedPackages(r, PATH, scratch(), origin("trixie-again"));
    expect(again).toMatchObject({ cached: true, parsedCached: true, bytes: first.bytes });
    expect(again.packages).toEqual(first.packages.map((p) => ({ ...p, origin: origin("trixie-again") })));
    expect(r.fetched).toBe(1);
  });

  it("parses again when the Release lists another index (one package changed)", async () => {
    await cachedPackages(reader(stanza("hello", "2.10-3")), PATH, scratch(), origin("trixie"));
    const changed = await cachedPackages(reader(stanza("hello", "2.10-4")), PATH, scratch(), origin("trixie"));
    expect(changed).toMatchObject({ cached: false, parsedCached: false });
    expect(changed.packages.map((p) => p.version)).toEqual(["2.10-4"]);
  });

  it("does not take packages another parsing code stored for the same index", async () => {
    const r = reader(stanza("hello", "2.10-3"));
    const ours = await parsedIndexFile(r, PATH, scratch());
    expect(ours).toContain((await parserCodeHash()).slice(0, 16));
    // what an older parser stored for this very index, under its own code hash
    const older = ours!.replace(/packages-[0-9a-f]{16}/, "packages-0000000000000000");
    await mkdir(join(scratch(), "indexes"), { recursive: true });
    await writeFile(older, JSON.stringify({ bytes: 1, packages: [{ name: "stale", version: "1" }] }));
    const loaded = await cachedPackages(r, PATH, scratch(), origin("trixie"));
    expect(loaded.parsedCached).toBe(false);
    expect(loaded.packages.map((p) => p.name)).toEqual(["hello"]);
  });

  it("parses again when the stored packages cannot be read", async () => {
    const r = reader(stanza("hello", "2.10-3"));
    await cachedPackages(r, PATH, scratch(), origin("trixie"));
    const file = (await parsedIndexFile(r, PATH, scratch()))!;
    await writeFile(file, "{ cut short");
    const loaded = await cachedPackages(r, PATH, scratch(), origin("trixie"));
    expect(loaded.parsedCached).toBe(false);
    expect(loaded.packages.map((p) => p.name)).toEqual(["hello"]);
    expect((await readdir(join(scratch(), "indexes"))).length).toBe(2); // the text and the parsed packages
  });

  it("keeps nothing parsed for an index the Release gives no SHA256 for", async () => {
    const r = reader(stanza("hello", "2.10-3"));
    r.release.files.clear();
    expect(await parsedIndexFile(r, PATH, scratch())).toBeUndefined();
    expect((await cachedPackages(r, PATH, scratch(), origin("trixie"))).parsedCached).toBe(false);
    expect((await cachedPackages(r, PATH, scratch(), origin("trixie"))).parsedCached).toBe(false);
  });
});

describe("pruning the index cache (trixie's main: 57 MB of text, 38 MB parsed)", () => {
  const scratch = useTempDir("parsed-index-prune-");
  const day = 86_400_000;

  /** A file under indexes/ last used `daysAgo` days ago. */
  async function usedAgo(name: string, daysAgo: number): Promise<void> {
    const file = join(scratch(), "indexes", name);
    await mkdir(join(scratch(), "indexes"), { recursive: true });
    await writeFile(file, JSON.stringify({ bytes: 1, packages: [] }));
    const when = new Date(Date.now() - daysAgo * day);
    await utimes(file, when, when);
  }

  it("writing one removes those unused for 14 days, text or parsed, and those of other parsing code unused for a day; keeps the rest", async () => {
    const code = (await parserCodeHash()).slice(0, 16);
    const other = "0".repeat(16);
    const sha = (c: string) => c.repeat(64);
    await usedAgo(`${sha("a")}.packages-${code}.json`, 13); // ours, used within 14 days: kept
    await usedAgo(`${sha("b")}.packages-${code}.json`, 15); // ours, unused for 15 days
    await usedAgo(`${sha("c")}.packages-${other}.json`, 2); // another parser's, unused for 2 days
    await usedAgo(`${sha("d")}.packages-${other}.json`, 0); // another parser's, in use today: kept
    await usedAgo(`.${sha("e")}.packages-${code}.json.tmp-1-ab`, 2); // a write cut short 2 days ago
    await usedAgo(sha("f"), 15); // an index's text (cachedIndex's), unused for 15 days
    await usedAgo(`${sha("1")}.decompressed`, 16); // a compressed index's text, unused for 16 days
    await usedAgo(sha("2"), 13); // an index's text used within 14 days: kept
    await usedAgo(`${sha("3")}.decompressed`, 2); // a compressed index's text unused for 2 days: kept (no parsing code's one-day rule for text)
    await usedAgo(`.${sha("4")}.tmp-1-cd`, 2); // a text's write cut short 2 days ago
    await usedAgo("notes.txt", 30); // not the cache's: left alone
    await cachedPackages(reader(stanza("hello", "2.10-3")), PATH, scratch(), origin("trixie"));
    const left = await readdir(join(scratch(), "indexes"));
    const written = (await parsedIndexFile(reader(stanza("hello", "2.10-3")), PATH, scratch()))!;
    expect(left.sort()).toEqual(
      [
        `${sha("a")}.packages-${code}.json`,
        `${sha("d")}.packages-${other}.json`,
        sha("2"),
        `${sha("3")}.decompressed`,
        "notes.txt",
        basename(written),
        basename(written).split(".")[0],
      ].sort(),
    );
  });

  it("a load marks its file as used, so it outlives the unused-days limit", async () => {
    const r = reader(stanza("hello", "2.10-3"));
    await cachedPackages(r, PATH, scratch(), origin("trixie"));
    const file = (await parsedIndexFile(r, PATH, scratch()))!;
    const old = new Date(Date.now() - 20 * day);
    await utimes(file, old, old);
    expect((await cachedPackages(r, PATH, scratch(), origin("trixie"))).parsedCached).toBe(true);
    // writing another index prunes; the one just loaded stays
    await cachedPackages(reader(stanza("hello", "2.10-4")), PATH, scratch(), origin("trixie"));
    expect(await readdir(join(scratch(), "indexes"))).toContain(basename(file));
    expect(await pruneIndexCache(join(scratch(), "indexes"), Date.now() + 15 * day)).toContain(basename(file));
  });

  it("a read of an index's text through cachedIndex marks it as used too", async () => {
    const r = reader(stanza("hello", "2.10-5"));
    await cachedPackages(r, PATH, scratch(), origin("trixie"));
    const text = basename((await parsedIndexFile(r, PATH, scratch()))!).split(".")[0]!;
    const old = new Date(Date.now() - 20 * day);
    await utimes(join(scratch(), "indexes", text), old, old);
    // the parsed packages gone (another parsing code's day): the text is read from the cache again
    await rm((await parsedIndexFile(r, PATH, scratch()))!);
    const loaded = await cachedPackages(r, PATH, scratch(), origin("trixie"));
    expect(loaded).toMatchObject({ cached: true, parsedCached: false });
    expect(r.fetched).toBe(1);
    expect(await readdir(join(scratch(), "indexes"))).toContain(text);
    expect(await pruneIndexCache(join(scratch(), "indexes"), Date.now() + 15 * day)).toContain(text);
  });
});
