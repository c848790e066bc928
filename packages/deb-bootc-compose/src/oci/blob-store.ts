import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip, constants as zlibConstants } from "node:zlib";
import { pathExists, siblingTempPath, writeFileAtomic } from "@debian-bootc/core";

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

export const MEDIA_TYPES = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  layerTar: "application/vnd.oci.image.layer.v1.tar",
} as const;

export type LayerCompression = "gzip" | "none";

export function blobPath(layout: string, digest: string): string {
  const [algorithm, hex] = digest.split(":");
  return join(layout, "blobs", algorithm!, hex!);
}

/** A pass-through stream that hashes and counts what flows through it. */
class Measure extends Transform {
  readonly hash = createHash("sha256");
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.push(chunk);
    callback();
  }
  digest(): string {
    return `sha256:${this.hash.digest("hex")}`;
  }
}

/** Store a JSON document (already serialised) as a blob; returns its descriptor. */
export async function writeJsonBlob(layout: string, mediaType: string, json: string): Promise<Descriptor> {
  const data = Buffer.from(json, "utf8");
  const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
  const path = blobPath(layout, digest);
  await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
  if (!(await pathExists(path, { followLinks: true }))) await writeFileAtomic(path, data);
  return { mediaType, digest, size: data.length };
}

export interface LayerBlob {
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  diffId: string;
  uncompressedSize: number;
}

/**
 * Stream a layer's tar through (optional) gzip into the blob store. Node's zlib with fixed settings
 * and no file name or time in the gzip header gives the same bytes for the same tar.
 */
export async function writeLayerBlob(
  layout: string,
  tar: Readable,
  compression: LayerCompression,
  signal?: AbortSignal,
): Promise<LayerBlob> {
  await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
  const temp = siblingTempPath(join(layout, "blobs", "sha256", "layer"));
  const raw = new Measure();
  const packed = new Measure();
  try {
    const stages: NodeJS.ReadWriteStream[] = [raw];
    if (compression === "gzip") stages.push(createGzip({ level: 6, memLevel: 8, strategy: zlibConstants.Z_DEFAULT_STRATEGY }));
    stages.push(packed);
    await pipeline([tar, ...stages, createWriteStream(temp, { flags: "wx" })], { signal });
    const digest = packed.digest();
    const path = blobPath(layout, digest);
    if (await pathExists(path, { followLinks: true })) await rm(temp, { force: true });
    else await rename(temp, path);
    return {
      descriptor: { mediaType: compression === "gzip" ? MEDIA_TYPES.layerGzip : MEDIA_TYPES.layerTar, digest, size: packed.bytes },
      diffId: raw.digest(),
      uncompressedSize: raw.bytes,
    };
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

export async function readJsonBlob<T>(layout: string, digest: string): Promise<T> {
  return JSON.parse(await readFile(blobPath(layout, digest), "utf8")) as T;
}

/** sha256 of a file already in the store, streamed (for verification). */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}
