import { open, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { type Logger, silentLogger, writeFileAtomic } from "@debian-bootc/core";
import { composeError } from "../errors.js";
import type { IdShift } from "../rootfs/image-root.js";
import { type Descriptor, type LayerBlob, type LayerCompression, MEDIA_TYPES, writeJsonBlob, writeLayerBlob } from "./blob-store.js";
import { readDpkgOwnership } from "./dpkg-ownership.js";
import { DEFAULT_MAX_LAYERS, type PlannedLayer, planLayers } from "./layer-plan.js";
import { type FsEntry, scanRootfs } from "./rootfs-scan.js";
import { END_OF_ARCHIVE, encodeTarHeader, paddingFor, type TarEntryHeader } from "./tar-writer.js";

/** Layer annotation: the Debian packages whose files the layer holds (space-separated). */
export const PACKAGES_ANNOTATION = "org.debian.bootc.packages";
/** Layer annotation on the layer of files no package owns. */
export const UNOWNED_ANNOTATION = "org.debian.bootc.unowned";

export interface OciImageOptions {
  /** The root tree to turn into an image. */
  rootfs: string;
  /** The OCI image layout directory (created; other tags in an existing index.json are kept). */
  layout: string;
  /** The tag (org.opencontainers.image.ref.name) in index.json. */
  tag: string;
  /** Debian architecture (amd64, arm64, armhf, i386, ppc64el, s390x, riscv64). */
  arch?: string;
  /** Every timestamp in the image (SOURCE_DATE_EPOCH); defaults to the environment's, else 0. */
  sourceDateEpoch?: number;
  /** Image labels (config.Labels); the bootc labels are always added. */
  labels?: Record<string, string>;
  /** Manifest annotations; org.opencontainers.image.created/version/title are filled in when absent. */
  annotations?: Record<string, string>;
  version?: string;
  title?: string;
  cmd?: string[];
  env?: string[];
  maxLayers?: number;
  /** Packages that always get a layer of their own; default: linux-image-* kernels. */
  alone?: readonly string[];
  /** Package groups of the previous image, to keep its layers (see readLayerGroups). */
  prior?: readonly (readonly string[])[];
  compression?: LayerCompression;
  /** "tree": uid/gid as in the root tree (default); "root": everything 0:0. */
  ownership?: "tree" | "root";
  /** The subordinate range the tree's owners are shifted by on disk: layers carry the in-image owners. */
  ids?: IdShift;
  /** Extended attributes by relative path (readXattrs gives them for a real tree). */
  xattrs?: ReadonlyMap<string, ReadonlyMap<string, Buffer>>;
  /** Leave paths out of the image (the scan's filter). */
  include?: (path: string, type: FsEntry["type"]) => boolean;
  /** Layers written at the same time (each is one gzip stream). */
  concurrency?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

export interface WrittenLayer {
  descriptor: Descriptor;
  diffId: string;
  uncompressedSize: number;
  packages: string[];
  unowned: boolean;
  entries: number;
}

export interface OciImageResult {
  manifest: Descriptor;
  config: Descriptor;
  layers: WrittenLayer[];
  tag: string;
}

const OCI_ARCH: Record<string, { architecture: string; variant?: string }> = {
  amd64: { architecture: "amd64" },
  arm64: { architecture: "arm64", variant: "v8" },
  armhf: { architecture: "arm", variant: "v7" },
  armel: { architecture: "arm", variant: "v5" },
  i386: { architecture: "386" },
  ppc64el: { architecture: "ppc64le" },
  s390x: { architecture: "s390x" },
  riscv64: { architecture: "riscv64" },
  loong64: { architecture: "loong64" },
};

export function ociPlatform(debianArch: string): { architecture: string; os: string; variant?: string } {
  return { os: "linux", ...(OCI_ARCH[debianArch] ?? { architecture: debianArch }) };
}

function epochFromEnv(): number {
  const value = process.env.SOURCE_DATE_EPOCH;
  return value && /^\d+$/.test(value) ? Number(value) : 0;
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

interface LayerContent {
  plan: PlannedLayer;
  entries: FsEntry[];
}

/**
 * Decide which layer each entry belongs to. Non-directories (and empty directories) go to their owning
 * package's layer, or the unowned layer; every layer also carries the parent directories of what it
 * holds, with their real metadata, so each layer unpacks the same on its own. All names of a hardlinked
 * file stay in the layer of its first name.
 */
export function assignEntries(
  entries: readonly FsEntry[],
  owner: ReadonlyMap<string, string>,
  options: { maxLayers?: number; alone?: readonly string[]; prior?: readonly (readonly string[])[] } = {},
): LayerContent[] {
  const leafOwner = new Map<string, string | undefined>(); // path -> package or undefined (unowned)
  const firstOfInode = new Map<string, string>();
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.type === "directory") {
      const next = entries[i + 1];
      if (next?.path.startsWith(`${entry.path}/`)) continue; // has children: carried as a parent
    }
    let pkg = owner.get(entry.path);
    if (entry.type === "file" && entry.nlink > 1) {
      const first = firstOfInode.get(entry.inode);
      if (first === undefined) firstOfInode.set(entry.inode, entry.path);
      else pkg = leafOwner.get(first);
    }
    leafOwner.set(entry.path, pkg);
  }
  const sizes = new Map<string, number>();
  let unownedSize = 0;
  for (const entry of entries) {
    if (!leafOwner.has(entry.path)) continue;
    const pkg = leafOwner.get(entry.path);
    const bytes = entry.size + 512;
    if (pkg === undefined) unownedSize += bytes;
    else sizes.set(pkg, (sizes.get(pkg) ?? 0) + bytes);
  }
  const plan = planLayers(
    [...sizes].map(([name, size]) => ({ name, size })),
    unownedSize,
    options,
  );
  const layerOfPackage = new Map<string, number>();
  plan.forEach((layer, index) => {
    for (const pkg of layer.packages) layerOfPackage.set(pkg, index);
  });
  const unownedIndex = plan.length - 1;
  const members = plan.map(() => new Set<string>());
  for (const [path, pkg] of leafOwner) {
    const index = pkg === undefined ? unownedIndex : layerOfPackage.get(pkg)!;
    const set = members[index]!;
    set.add(path);
    for (let slash = path.lastIndexOf("/"); slash > 0; slash = path.lastIndexOf("/", slash - 1)) {
      const parent = path.slice(0, slash);
      if (set.has(parent)) break;
      set.add(parent);
    }
  }
  return plan
    .map((layer, index) => ({ plan: layer, entries: entries.filter((e) => members[index]!.has(e.path)) }))
    .filter((layer) => layer.entries.length > 0 || layer.plan.unowned);
}

/** The tar stream of one layer, file contents read as it goes (memory stays bounded). */
function layerTar(rootfs: string, layer: LayerContent, options: OciImageOptions, mtime: number): Readable {
  const rootOwned = options.ownership === "root";
  async function* generate(): AsyncGenerator<Buffer> {
    const written = new Map<string, string>(); // inode -> first path in this layer
    for (const entry of layer.entries) {
      const header: TarEntryHeader = {
        path: entry.path,
        type: entry.type,
        mode: entry.mode,
        uid: rootOwned ? 0 : entry.uid,
        gid: rootOwned ? 0 : entry.gid,
        size: entry.size,
        mtime,
        linkTarget: entry.linkTarget,
        devMajor: entry.devMajor,
        devMinor: entry.devMinor,
        xattrs: options.xattrs?.get(entry.path) as ReadonlyMap<string, Buffer> | undefined,
      };
      if (entry.type === "file" && entry.nlink > 1) {
        const first = written.get(entry.inode);
        if (first !== undefined) {
          yield encodeTarHeader({ ...header, type: "hardlink", size: 0, linkTarget: first });
          continue;
        }
        written.set(entry.inode, entry.path);
      }
      yield encodeTarHeader(header);
      if (entry.type === "file" && entry.size > 0) {
        yield* readExactly(join(rootfs, entry.path), entry.size, entry.path);
        yield paddingFor(entry.size);
      }
    }
    yield END_OF_ARCHIVE;
  }
  return Readable.from(generate(), { objectMode: false });
}

async function* readExactly(path: string, size: number, rel: string): AsyncGenerator<Buffer> {
  const handle = await open(path, "r");
  try {
    let done = 0;
    const chunk = 1 << 20;
    while (done < size) {
      const buffer = Buffer.alloc(Math.min(chunk, size - done));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, done);
      if (bytesRead === 0) throw composeError("ROOTFS_CHANGED", `${rel}: file shrank while it was being written (expected ${size} bytes)`);
      done += bytesRead;
      yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
    }
    const probe = Buffer.alloc(1);
    if ((await handle.read(probe, 0, 1, size)).bytesRead !== 0) {
      throw composeError("ROOTFS_CHANGED", `${rel}: file grew while it was being written (expected ${size} bytes)`);
    }
  } finally {
    await handle.close();
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Read an existing index.json (empty when absent). */
async function readIndex(layout: string): Promise<{ manifests: Descriptor[] }> {
  try {
    const parsed = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests?: Descriptor[] };
    return { manifests: Array.isArray(parsed.manifests) ? parsed.manifests : [] };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { manifests: [] };
    throw composeError("OCI_LAYOUT_INVALID", `${join(layout, "index.json")}: cannot read: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Write a root tree as a bootc OCI image into an OCI image layout: one layer per package or group of
 * packages (from the dpkg database in the tree), a last layer of unowned files, a config with the bootc
 * labels, a manifest and index.json. Same tree and options give the same digests.
 */
export async function writeOciImage(options: OciImageOptions): Promise<OciImageResult> {
  const logger = options.logger ?? silentLogger;
  const st = await stat(options.rootfs).catch(() => undefined);
  if (!st?.isDirectory()) throw composeError("ROOTFS_NOT_FOUND", `${options.rootfs}: not a directory`);
  const epoch = options.sourceDateEpoch ?? epochFromEnv();
  const created = new Date(epoch * 1000).toISOString().replace(/\.000Z$/, "Z");
  const arch = options.arch ?? "amd64";

  const entries = await scanRootfs(options.rootfs, { include: options.include, ids: options.ids, logger });
  const { owner, packages } = await readDpkgOwnership(options.rootfs);
  const alone = options.alone ?? packages.filter((p) => /^linux-image-\d/.test(p));
  const layers = assignEntries(entries, owner, { maxLayers: options.maxLayers ?? DEFAULT_MAX_LAYERS, alone, prior: options.prior });
  logger.info({ entries: entries.length, packages: packages.length, layers: layers.length }, "layer plan");

  const compression = options.compression ?? "gzip";
  const blobs: LayerBlob[] = await mapLimit(layers, options.concurrency ?? 2, (layer) =>
    writeLayerBlob(options.layout, layerTar(options.rootfs, layer, options, epoch), compression, options.signal),
  );
  const written: WrittenLayer[] = layers.map((layer, i) => ({
    descriptor: {
      ...blobs[i]!.descriptor,
      annotations: (layer.plan.unowned && layer.plan.packages.length === 0
        ? { [UNOWNED_ANNOTATION]: "true" }
        : { [PACKAGES_ANNOTATION]: layer.plan.packages.join(" ") }) as Record<string, string>,
    },
    diffId: blobs[i]!.diffId,
    uncompressedSize: blobs[i]!.uncompressedSize,
    packages: layer.plan.packages,
    unowned: layer.plan.unowned,
    entries: layer.entries.length,
  }));

  const platform = ociPlatform(arch);
  const version = options.version ?? options.annotations?.["org.opencontainers.image.version"];
  const labels = sortedRecord({
    ...(version === undefined ? {} : { "org.opencontainers.image.version": version }),
    ...(options.title === undefined ? {} : { "org.opencontainers.image.title": options.title }),
    "org.opencontainers.image.created": created,
    ...options.labels,
    "containers.bootc": "1",
    "ostree.bootable": "1",
  });
  const config = {
    created,
    architecture: platform.architecture,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    os: "linux",
    config: {
      Env: options.env ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Cmd: options.cmd ?? ["/sbin/init"],
      Labels: labels,
      StopSignal: "SIGRTMIN+3",
    },
    rootfs: { type: "layers", diff_ids: written.map((l) => l.diffId) },
    history: written.map((l) => ({
      created,
      created_by: "deb-bootc-compose",
      comment: l.unowned ? "files owned by no package" : `packages: ${l.packages.join(" ")}`,
    })),
  };
  const configDescriptor = await writeJsonBlob(options.layout, MEDIA_TYPES.config, JSON.stringify(config));
  const annotations = sortedRecord({
    "org.opencontainers.image.created": created,
    ...(version === undefined ? {} : { "org.opencontainers.image.version": version }),
    ...(options.title === undefined ? {} : { "org.opencontainers.image.title": options.title }),
    ...options.annotations,
  });
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: configDescriptor,
    layers: written.map((l) => l.descriptor),
    annotations,
  };
  const manifestBlob = await writeJsonBlob(options.layout, MEDIA_TYPES.manifest, JSON.stringify(manifest));
  const manifestDescriptor: Descriptor = {
    ...manifestBlob,
    platform,
    annotations: { "org.opencontainers.image.ref.name": options.tag },
  };
  const index = await readIndex(options.layout);
  const manifests = [
    ...index.manifests.filter((m) => m.annotations?.["org.opencontainers.image.ref.name"] !== options.tag),
    manifestDescriptor,
  ].sort((a, b) => {
    const ra = a.annotations?.["org.opencontainers.image.ref.name"] ?? "";
    const rb = b.annotations?.["org.opencontainers.image.ref.name"] ?? "";
    return ra < rb ? -1 : ra > rb ? 1 : 0;
  });
  await writeFileAtomic(join(options.layout, "oci-layout"), `${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`);
  await writeFileAtomic(
    join(options.layout, "index.json"),
    `${JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests })}\n`,
  );
  return { manifest: manifestDescriptor, config: configDescriptor, layers: written, tag: options.tag };
}
