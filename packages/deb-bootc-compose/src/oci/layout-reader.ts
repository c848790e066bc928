import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { composeError } from "../errors.js";
import { type Descriptor, readJsonBlob } from "./blob-store.js";
import { PACKAGES_ANNOTATION } from "./image-writer.js";

export interface OciManifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface OciConfig {
  created?: string;
  architecture: string;
  os: string;
  config?: { Labels?: Record<string, string>; Cmd?: string[]; Env?: string[] };
  rootfs: { type: string; diff_ids: string[] };
}

export interface OciImage {
  manifestDescriptor: Descriptor;
  manifest: OciManifest;
  config: OciConfig;
}

/** Read the manifest and config tagged `tag` (or the only one) from an OCI image layout. */
export async function readOciImage(layout: string, tag?: string): Promise<OciImage> {
  let index: { manifests?: Descriptor[] };
  try {
    index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests?: Descriptor[] };
  } catch (error) {
    throw composeError("OCI_LAYOUT_INVALID", `${layout}: no readable index.json: ${(error as Error).message}`, { cause: error });
  }
  const manifests = index.manifests ?? [];
  const chosen =
    tag === undefined
      ? manifests.length === 1
        ? manifests[0]
        : undefined
      : manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
  if (chosen === undefined) {
    const tags = manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"] ?? "(untagged)").join(", ");
    throw composeError("OCI_LAYOUT_INVALID", `${layout}: no image${tag === undefined ? "" : ` tagged ${tag}`} (tags: ${tags || "none"})`);
  }
  const manifest = await readJsonBlob<OciManifest>(layout, chosen.digest);
  const config = await readJsonBlob<OciConfig>(layout, manifest.config.digest);
  return { manifestDescriptor: chosen, manifest, config };
}

/** The package groups of an image's layers, to pass as `prior` when writing its successor. */
export function layerGroups(manifest: OciManifest): string[][] {
  return manifest.layers
    .map((layer) => layer.annotations?.[PACKAGES_ANNOTATION])
    .filter((value): value is string => typeof value === "string" && value !== "")
    .map((value) => value.split(" "));
}

export interface LayerChange {
  totalBytes: number;
  /** Bytes of the new image's layers that the old image does not have (what a client downloads). */
  changedBytes: number;
  changedLayers: number;
  totalLayers: number;
}

/** How much of `next` is new relative to `previous`, by compressed layer blobs. */
export function compareLayers(previous: OciManifest, next: OciManifest): LayerChange {
  const old = new Set(previous.layers.map((l) => l.digest));
  let changedBytes = 0;
  let changedLayers = 0;
  let totalBytes = 0;
  for (const layer of next.layers) {
    totalBytes += layer.size;
    if (!old.has(layer.digest)) {
      changedBytes += layer.size;
      changedLayers += 1;
    }
  }
  return { totalBytes, changedBytes, changedLayers, totalLayers: next.layers.length };
}
