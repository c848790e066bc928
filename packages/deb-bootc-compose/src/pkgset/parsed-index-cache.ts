import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, utimes } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "@debian-bootc/core";
import { type AptRepositoryReader, cachedIndex, INDEX_UNUSED_MS, pruneCachedIndexes } from "@debian-bootc/debian";
import { moduleDirHash } from "../code-hash.js";
import { type IndexPackage, type PackageOrigin, parsePackagesIndex } from "./repository-index.js";

/**
 * A Packages index parsed once. Parsing trixie's main index (about 57 MB, 69,000 stanzas) is most of a
 * no-op recompose's pkgset phase; its packages are kept as JSON under `<cacheDir>/indexes/`, named by the
 * SHA256 the verified Release gives for the index (as cachedIndex names the text) and by the hash of the
 * code that parsed them (this folder and packages/debian), so a new Release or changed parsing code parses
 * again. What a load adds (the origin) is not stored. Each is about 38 MB for trixie's main, the text
 * beside it about 57 MB: writing one prunes the folder (pruneIndexCache).
 */

const DAY_MS = 86_400_000;
/** `SHA256.packages-CODE.json`; the temporary names writeFileAtomic gives it and cachedIndex's text while written. */
const parsedName = /^[0-9a-f]{64}\.packages-([0-9a-f]{16})\.json$/;
const tempName = /^\.[0-9a-f]{64}[.a-z0-9-]*\.tmp-/;

type StoredPackage = Omit<IndexPackage, "origin">;

interface StoredIndex {
  bytes: number;
  packages: StoredPackage[];
}

export interface LoadedPackages {
  packages: IndexPackage[];
  /** The index's text came from the cache (or its parsed packages did). */
  cached: boolean;
  /** The parsed packages came from the cache (nothing was parsed). */
  parsedCached: boolean;
  /** Size of the index's text. */
  bytes: number;
}

let parserHash: Promise<string> | undefined;

/** The code that turns an index into packages: this folder's modules and packages/debian's. */
export function parserCodeHash(): Promise<string> {
  parserHash ??= (async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const debian = dirname(fileURLToPath(import.meta.resolve("@debian-bootc/debian")));
    return createHash("sha256")
      .update(await moduleDirHash(here))
      .update(await moduleDirHash(debian))
      .digest("hex");
  })();
  return parserHash;
}

/** The file the parsed packages of `path` are kept in, or undefined when the Release gives no SHA256 for it. */
export async function parsedIndexFile(reader: AptRepositoryReader, path: string, cacheDir: string): Promise<string | undefined> {
  const files = reader.release.files;
  const key = (files.get(path) ?? files.get(`${path}.xz`) ?? files.get(`${path}.gz`))?.sha256;
  if (key === undefined || !/^[0-9a-f]{64}$/.test(key)) return undefined;
  return join(cacheDir, "indexes", `${key}.packages-${(await parserCodeHash()).slice(0, 16)}.json`);
}

/** The stored packages, or undefined when missing or unreadable (a write cut short: parsed again). */
async function readStored(file: string): Promise<StoredIndex | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as StoredIndex;
  } catch {
    return undefined;
  }
}

/**
 * How long a file of `<cacheDir>/indexes/` is kept unused (a load touches its mtime), or undefined for a
 * name that is none of these: INDEX_UNUSED_MS for packages parsed by this code (as for the index's text,
 * which pruneCachedIndexes judges); a day for those parsed by other code (a day, so that two versions of
 * the tool sharing a cache do not remove each other's on every run) and for temporary files a killed
 * write left.
 */
function keepUnusedMs(name: string, code: string): number | undefined {
  const version = parsedName.exec(name)?.[1];
  if (version !== undefined) return version === code ? INDEX_UNUSED_MS : DAY_MS;
  if (tempName.test(name)) return DAY_MS;
  return undefined;
}

/** Remove the files of `<cacheDir>/indexes/` unused for longer than keepUnusedMs (or, for index texts, pruneCachedIndexes) allows; returns the names removed. */
export async function pruneIndexCache(dir: string, now = Date.now()): Promise<string[]> {
  const code = (await parserCodeHash()).slice(0, 16);
  const removed = await pruneCachedIndexes(dir, now);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const keepMs = keepUnusedMs(name, code);
    if (keepMs === undefined) continue;
    const mtime = (await stat(join(dir, name)).catch(() => undefined))?.mtimeMs;
    if (mtime === undefined || now - mtime <= keepMs) continue;
    await rm(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/** The packages of a verified repository's index (`main/binary-amd64/Packages`), parsed once per index and code. */
export async function cachedPackages(
  reader: AptRepositoryReader,
  path: string,
  cacheDir: string,
  origin: PackageOrigin,
): Promise<LoadedPackages> {
  const file = await parsedIndexFile(reader, path, cacheDir);
  if (file) {
    const stored = await readStored(file);
    if (stored && Array.isArray(stored.packages)) {
      // the mark pruning goes by: this file is in use
      const now = new Date();
      await utimes(file, now, now).catch(() => {});
      return { packages: stored.packages.map((p) => ({ ...p, origin })), cached: true, parsedCached: true, bytes: stored.bytes };
    }
  }
  const { text, cached } = await cachedIndex(reader, path, cacheDir);
  const packages = parsePackagesIndex(text, origin, `${reader.url}/dists/${reader.suite}/${path}`);
  if (file) {
    const stored: StoredIndex = { bytes: text.length, packages: packages.map(({ origin: _origin, ...p }) => p) };
    await mkdir(dirname(file), { recursive: true });
    await writeFileAtomic(file, JSON.stringify(stored));
    await pruneIndexCache(dirname(file));
  }
  return { packages, cached, parsedCached: false, bytes: text.length };
}
