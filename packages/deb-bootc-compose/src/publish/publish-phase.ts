import { join } from "node:path";
import type { Phase } from "../compose/phase-engine.js";
import { openTextLog } from "../rootfs/text-log.js";
import { publishCompose } from "./publish.js";
import { updateSigningKey } from "./signing-key.js";

export interface PublishPhaseOptions {
  /** The definition's folder (updates.key is relative to it). */
  baseDir: string;
}

/**
 * The publish phase, last of a compose whose definition says updates.publishTo: the compose's commits go
 * into that channel repository (see publishCompose, which records it in compose/metadata/published.json),
 * after the boot tests passed.
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
