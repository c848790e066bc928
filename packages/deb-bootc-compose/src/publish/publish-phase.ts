import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "@debian-bootc/core";
import type { Phase } from "../compose/phase-engine.js";
import type { ComposeDefinition } from "../definition.js";
import { openTextLog } from "../rootfs/text-log.js";
import { type PublishedRecord, publishCompose } from "./publish.js";
import { updateSigningKey } from "./signing-key.js";

export interface PublishPhaseOptions {
  /** The definition's folder (updates.key is relative to it). */
  baseDir: string;
}

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

/**
 * The publish phase, last of a compose whose definition says updates.publishTo: the compose's commits go
 * into that channel repository (see publishCompose), after the boot tests passed.
 */
export function createPublishPhase(options: PublishPhaseOptions): Phase {
  return {
    name: "publish",
    async run(ctx) {
      const to = ctx.definition.updates?.publishTo;
      if (!to) return;
      const key = await updateSigningKey(ctx.definition, options.baseDir);
      const log = await openTextLog(join(ctx.composeDir, "logs", "publish-commands.log"));
      try {
        const records = await publishCompose({
          composeDir: ctx.composeDir,
          definition: ctx.definition,
          to,
          key,
          logger: ctx.logger,
          signal: ctx.signal,
          onOutput: (c) => log.write(c),
        });
        ctx.state.set("published", records);
        const meta = join(ctx.composeDir, "compose", "metadata");
        await mkdir(meta, { recursive: true });
        await writeFileAtomic(join(meta, "published.json"), `${JSON.stringify(publishedMetadata(ctx.definition, records), null, 2)}\n`);
        for (const r of records)
          ctx.emit({
            phase: "publish",
            kind: "note",
            text: `${r.variant}/${r.arch}: ${r.ref} -> ${r.commit.slice(0, 12)}${r.delta ? " (static delta)" : ""}${r.changed ? "" : " (already published)"}`,
          });
      } finally {
        await log.close();
      }
    },
  };
}
