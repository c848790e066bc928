import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "@debian-bootc/core";
import type { ComposeDefinition } from "../definition.js";
import type { PublishedRecord } from "./publish.js";

/** compose/metadata/published.json: where the compose was published, for the hub and whoever reads the compose. */
export interface PublishedMetadata {
  /** The channel's public URL (updates.url), the machines' remote; never the local publishTo directory. */
  url: string;
  commits: Array<{ variant: string; arch: string; ref: string; commit: string; delta: boolean; changed: boolean }>;
}

export function publishedMetadata(definition: ComposeDefinition, records: readonly PublishedRecord[]): PublishedMetadata {
  return {
    url: definition.updates!.url,
    commits: records.map((r) => ({
      variant: r.variant,
      arch: r.arch,
      ref: r.ref,
      commit: r.commit,
      delta: r.delta !== undefined,
      changed: r.changed,
    })),
  };
}

/** Record a publication in the compose (the publish phase and the standalone publish command both do). */
export async function writePublishedMetadata(
  composeDir: string,
  definition: ComposeDefinition,
  records: readonly PublishedRecord[],
): Promise<string> {
  const meta = join(composeDir, "compose", "metadata");
  await mkdir(meta, { recursive: true });
  const path = join(meta, "published.json");
  await writeFileAtomic(path, `${JSON.stringify(publishedMetadata(definition, records), null, 2)}\n`);
  return path;
}
