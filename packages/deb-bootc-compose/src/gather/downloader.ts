import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { hashFileWith, type RepositoryFetch } from "@debian-bootc/debian";
import { composeError } from "../errors.js";

/**
 * Downloads of .debs into a content-addressed cache: <cacheDir>/debs/<aa>/<sha256>.deb, each file
 * checked for size and SHA256 against the index before it is renamed into place, so the cache holds
 * only verified files and is shared by every compose on the machine.
 */

export interface DownloadItem {
  /** Package name (for messages). */
  name: string;
  version: string;
  url: string;
  size: number;
  sha256: string;
  /** How the URL is fetched (default: the global fetch), e.g. with a hub's token. */
  fetch?: RepositoryFetch;
}

export interface DownloadProgress {
  item: DownloadItem;
  cached: boolean;
  done: number;
  total: number;
  /** Bytes of finished items so far / of all items. */
  bytes: number;
  totalBytes: number;
}

export interface DownloadOptions {
  cacheDir: string;
  /** Parallel downloads (default 4). */
  parallel?: number;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
}

export interface DownloadResult {
  /** SHA256 -> cache path. */
  files: Map<string, string>;
  downloaded: number;
  downloadedBytes: number;
  cached: number;
  totalBytes: number;
}

export function cachePath(cacheDir: string, sha256: string): string {
  return join(cacheDir, "debs", sha256.slice(0, 2), `${sha256}.deb`);
}

/** A cached file is used when its size and SHA256 match; anything else is removed and fetched again. */
async function fromCache(path: string, item: DownloadItem): Promise<boolean> {
  try {
    const s = await stat(path);
    if (s.size === item.size && (await hashFileWith(path, ["sha256"])).sha256 === item.sha256) return true;
    await rm(path, { force: true });
  } catch {
    // not cached
  }
  return false;
}

async function fetchInto(item: DownloadItem, target: string, signal?: AbortSignal): Promise<void> {
  const temp = join(dirname(target), `.${item.sha256}.${process.pid}.${randomBytes(4).toString("hex")}.part`);
  const hash = createHash("sha256");
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > item.size) {
        cb(
          composeError("GATHER_FAILED", `${item.name} ${item.version}: ${item.url} is larger than the ${item.size} bytes the index gives`),
        );
        return;
      }
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    let body: Readable;
    if (item.url.startsWith("file:")) {
      try {
        body = createReadStream(fileURLToPath(item.url));
        await new Promise<void>((resolve, reject) => {
          body.once("open", () => resolve());
          body.once("error", reject);
        });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") throw missing(item, "no such file");
        throw error;
      }
    } else {
      let response: Response;
      try {
        response = await (item.fetch ?? fetch)(item.url, { redirect: "follow", ...(signal ? { signal } : {}) });
      } catch (error) {
        if (signal?.aborted) throw error;
        throw composeError("GATHER_FAILED", `${item.name} ${item.version}: ${item.url}: ${(error as Error).message}`, {
          cause: error,
          details: { url: item.url },
        });
      }
      if (response.status === 404 || response.status === 410) {
        await response.body?.cancel();
        throw missing(item, `HTTP ${response.status}`);
      }
      if (!response.ok || !response.body) {
        await response.body?.cancel();
        throw composeError("GATHER_FAILED", `${item.name} ${item.version}: ${item.url}: HTTP ${response.status} ${response.statusText}`, {
          details: { url: item.url, status: response.status },
        });
      }
      body = Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>);
    }
    await pipeline(body, counter, createWriteStream(temp), signal ? { signal } : {});
    const digest = hash.digest("hex");
    if (size !== item.size || digest !== item.sha256) {
      throw composeError(
        "GATHER_FAILED",
        `${item.name} ${item.version}: ${item.url}: got ${size} bytes with SHA256 ${digest}, the index says ${item.size} bytes with ${item.sha256}`,
        { hint: "the mirror changed or is corrupt; try again or use another mirror", details: { url: item.url } },
      );
    }
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

function missing(item: DownloadItem, why: string) {
  return composeError("GATHER_MISSING", `${item.name} ${item.version}: ${item.url} is not on the mirror (${why})`, {
    hint: "the mirror may be partial or out of date; use a complete mirror (mirror: in the definition) or drop the package",
    details: { package: item.name, version: item.version, url: item.url },
  });
}

/** Fetch every item into the cache (those already there are verified and reused), a few at a time. */
export async function downloadAll(items: readonly DownloadItem[], options: DownloadOptions): Promise<DownloadResult> {
  const unique = new Map<string, DownloadItem>();
  for (const item of items) {
    // the cache path is made of the index's SHA256: a hostile index must not lead it outside the cache
    if (!/^[0-9a-f]{64}$/.test(item.sha256) || !Number.isSafeInteger(item.size) || item.size < 0)
      throw composeError(
        "GATHER_FAILED",
        `${item.name} ${item.version}: the index gives SHA256 ${JSON.stringify(item.sha256.slice(0, 80))} and size ${item.size}, not 64 hex digits and a byte count`,
        { details: { url: item.url } },
      );
    if (!unique.has(item.sha256)) unique.set(item.sha256, item);
  }
  const list = [...unique.values()];
  const totalBytes = list.reduce((n, i) => n + i.size, 0);
  const result: DownloadResult = { files: new Map(), downloaded: 0, downloadedBytes: 0, cached: 0, totalBytes };
  let next = 0;
  let done = 0;
  let bytes = 0;
  const errors: unknown[] = [];
  const missingOnes: Error[] = [];
  const worker = async () => {
    while (next < list.length && errors.length === 0) {
      options.signal?.throwIfAborted();
      const item = list[next++]!;
      const target = cachePath(options.cacheDir, item.sha256);
      const cached = await fromCache(target, item);
      if (!cached) {
        await mkdir(dirname(target), { recursive: true });
        try {
          await fetchInto(item, target, options.signal);
        } catch (error) {
          // a file missing from the mirror: keep going, so that one error lists every missing file
          if ((error as { code?: string }).code === "GATHER_MISSING") {
            missingOnes.push(error as Error);
            continue;
          }
          errors.push(error);
          return;
        }
        result.downloaded++;
        result.downloadedBytes += item.size;
      } else result.cached++;
      result.files.set(item.sha256, target);
      done++;
      bytes += item.size;
      options.onProgress?.({ item, cached, done, total: list.length, bytes, totalBytes });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.parallel ?? 4, list.length)) }, worker));
  options.signal?.throwIfAborted();
  if (errors.length > 0) throw errors[0];
  if (missingOnes.length === 1) throw missingOnes[0];
  if (missingOnes.length > 1) {
    missingOnes.sort((a, b) => (a.message < b.message ? -1 : 1));
    throw composeError(
      "GATHER_MISSING",
      `${missingOnes.length} packages are not on the mirror:\n${missingOnes.map((e) => e.message).join("\n")}`,
      {
        cause: missingOnes[0],
        hint: "the mirror may be partial or out of date; use a complete mirror (mirror: in the definition) or drop the packages",
      },
    );
  }
  return result;
}
