import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";

/**
 * Streaming file hashes for .deb reading, .dsc/.changes validation and repository writing. A file is read
 * once, in chunks, whatever its size; every digest is lower-case hex as Debian's indexes write them.
 */
export type HashAlgorithm = "md5" | "sha1" | "sha256" | "sha512";

export const ALL_HASHES: readonly HashAlgorithm[] = ["md5", "sha1", "sha256", "sha512"];

export interface FileDigests {
  size: number;
  md5: string;
  sha1: string;
  sha256: string;
  sha512: string;
}

/** Hashes several digests at once over data fed in chunks. */
export class MultiHasher {
  readonly #hashes: Array<[HashAlgorithm, Hash]>;
  #size = 0;

  constructor(algorithms: readonly HashAlgorithm[] = ALL_HASHES) {
    this.#hashes = algorithms.map((a) => [a, createHash(a)]);
  }

  update(chunk: Uint8Array): void {
    this.#size += chunk.length;
    for (const [, h] of this.#hashes) h.update(chunk);
  }

  get size(): number {
    return this.#size;
  }

  digest(): Partial<Record<HashAlgorithm, string>> & { size: number } {
    const out: Partial<Record<HashAlgorithm, string>> & { size: number } = { size: this.#size };
    for (const [a, h] of this.#hashes) out[a] = h.digest("hex");
    return out;
  }
}

/** Size and the four digests Debian uses (MD5sum, SHA1, SHA256, SHA512) of a file, in one streaming pass. */
export async function hashFile(path: string): Promise<FileDigests> {
  const hasher = new MultiHasher(ALL_HASHES);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hasher.update(chunk as Buffer);
  return hasher.digest() as FileDigests;
}

/** Size and selected digests of a file (cheaper when only SHA256 is needed). */
export async function hashFileWith<A extends HashAlgorithm>(
  path: string,
  algorithms: readonly A[],
): Promise<Record<A, string> & { size: number }> {
  const hasher = new MultiHasher(algorithms);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hasher.update(chunk as Buffer);
  return hasher.digest() as Record<A, string> & { size: number };
}

/** Digests of data already in memory (index files being written). */
export function hashBuffer(data: Uint8Array | string): FileDigests {
  const hasher = new MultiHasher(ALL_HASHES);
  hasher.update(typeof data === "string" ? Buffer.from(data, "utf8") : data);
  return hasher.digest() as FileDigests;
}
