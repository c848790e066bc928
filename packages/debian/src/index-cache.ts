import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "@debian-bootc/core";
import type { AptRepositoryReader } from "./repository-reader.js";

/**
 * An index file of a verified repository (`main/binary-amd64/Packages`, uncompressed path) through a
 * cache directory: stored decompressed under `<cacheDir>/indexes/`, named by the SHA256 the signed
 * Release gives for it (of the uncompressed file when listed, else of the compressed one, then with a
 * `.decompressed` suffix), so a new Release means a new file and an old one is never served for it.
 * A cached file keyed by its own SHA256 is checked on every read, and a read marks it as used (its mtime);
 * writing a new one (a new Release) removes those unused for INDEX_UNUSED_MS (pruneCachedIndexes), so that
 * a long-lived cache (a hub's, a compose host's) keeps the indexes in use and a few old ones only.
 */

/** The names cachedIndex gives the files it keeps in `<cacheDir>/indexes/`. */
export const cachedIndexName = /^[0-9a-f]{64}(\.decompressed)?$/;

/** How long an index's text is kept unused: two weeks, so that a suite composed or built now and then stays cached. */
export const INDEX_UNUSED_MS = 14 * 86_400_000;

/** Remove the index texts of `dir` (a cache's `indexes/`) unused for longer than INDEX_UNUSED_MS; returns the names removed. Other files are left alone. */
export async function pruneCachedIndexes(dir: string, now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!cachedIndexName.test(name)) continue;
    const mtime = (await stat(join(dir, name)).catch(() => undefined))?.mtimeMs;
    if (mtime === undefined || now - mtime <= INDEX_UNUSED_MS) continue;
    await rm(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

export async function cachedIndex(reader: AptRepositoryReader, path: string, cacheDir: string): Promise<{ text: string; cached: boolean }> {
  const plain = reader.release.files.get(path);
  const listed = plain ?? reader.release.files.get(`${path}.xz`) ?? reader.release.files.get(`${path}.gz`);
  const key = listed?.sha256;
  if (key !== undefined && /^[0-9a-f]{64}$/.test(key)) {
    const file = join(cacheDir, "indexes", plain?.sha256 === key ? key : `${key}.decompressed`);
    try {
      const data = await readFile(file);
      // keyed by the uncompressed index's SHA256: check it; keyed by the compressed file's: we wrote it after checking
      if (plain?.sha256 !== key || createHash("sha256").update(data).digest("hex") === key) {
        const now = new Date();
        await utimes(file, now, now).catch(() => {});
        return { text: data.toString("utf8"), cached: true };
      }
    } catch {
      // not cached yet
    }
    const data = await reader.fetchIndex(path);
    await mkdir(join(cacheDir, "indexes"), { recursive: true });
    await writeFileAtomic(file, data);
    await pruneCachedIndexes(join(cacheDir, "indexes"));
    return { text: data.toString("utf8"), cached: false };
  }
  return { text: (await reader.fetchIndex(path)).toString("utf8"), cached: false };
}
