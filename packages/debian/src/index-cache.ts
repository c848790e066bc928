import { createHash } from "node:crypto";
import { mkdir, readFile, utimes } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "@debian-bootc/core";
import type { AptRepositoryReader } from "./repository-reader.js";

/**
 * An index file of a verified repository (`main/binary-amd64/Packages`, uncompressed path) through a
 * cache directory: stored decompressed under `<cacheDir>/indexes/`, named by the SHA256 the signed
 * Release gives for it (of the uncompressed file when listed, else of the compressed one, then with a
 * `.decompressed` suffix), so a new Release means a new file and an old one is never served for it.
 * A cached file keyed by its own SHA256 is checked on every read, and a read marks it as used (its mtime):
 * what prunes the cache (deb-bootc-compose's pruneIndexCache) removes those unused for a while.
 */

/** The names cachedIndex gives the files it keeps in `<cacheDir>/indexes/`. */
export const cachedIndexName = /^[0-9a-f]{64}(\.decompressed)?$/;

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
    return { text: data.toString("utf8"), cached: false };
  }
  return { text: (await reader.fetchIndex(path)).toString("utf8"), cached: false };
}
