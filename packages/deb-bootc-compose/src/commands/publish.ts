import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { CommandSpec } from "@debian-bootc/core";
import { readComposeStatus } from "../compose/phase-engine.js";
import { loadDefinition } from "../definition.js";
import { composeError } from "../errors.js";
import { publishCompose } from "../publish/publish.js";
import { updateSigningKey } from "../publish/signing-key.js";

export const publishCommand: CommandSpec = {
  name: "publish",
  summary: "Publish a compose's OSTree commits into a long-lived, signed update repository",
  description:
    "Puts each variant's commit of COMPOSE into the archive repository --to (created when missing) on the update channel's ref " +
    "(the definition's updates.ref), signs it with the channel's key (updates.key, or the default key made on first use in " +
    "$XDG_DATA_HOME/deb-bootc-compose/keys), generates a static delta from the ref's previous commit and signs the summary. " +
    "The repository is plain files: serve it with any web server at the definition's updates.url. Like the publish phase, it " +
    "records the publication in COMPOSE/compose/metadata/published.json (updates.url and each ref's commit; a hub that " +
    "recorded the compose is not told: it takes that file when the compose finishes). The definition is the copy " +
    "in the compose's metadata unless --definition names the file (its folder is where a relative updates.key is found).",
  args: [{ name: "compose", description: "a finished compose directory (or a latest-<name> link)" }],
  options: [
    { flags: "--to <dir>", description: "the published repository (default: the definition's updates.publishTo)" },
    { flags: "--definition <file>", description: "the compose definition (default: the copy in compose/metadata)" },
  ],
  examples: ["deb-bootc-compose publish /srv/composes/latest-debian-bootc-minimal --to /srv/ostree"],
  async run(ctx) {
    const composeDir = resolve(ctx.args[0]!);
    const o = ctx.options as Record<string, string | undefined>;
    const { status } = await readComposeStatus(composeDir);
    if (status !== "FINISHED" && status !== "FINISHED_INCOMPLETE")
      throw composeError("CHANNEL_PUBLISH_FAILED", `${composeDir} is ${status}: only a finished compose is published`);
    let definitionPath = o.definition ? resolve(o.definition) : undefined;
    if (!definitionPath) {
      const metadata = join(composeDir, "compose", "metadata");
      const copy = (await readdir(metadata)).find((f) => f.endsWith(".yaml") || f.endsWith(".yml"));
      if (!copy) throw composeError("COMPOSE_DIR_INVALID", `${metadata}: no copy of the definition; name it with --definition`);
      definitionPath = join(metadata, copy);
    }
    const { definition, baseDir } = await loadDefinition(definitionPath);
    const to = o.to ? resolve(o.to) : definition.updates?.publishTo;
    if (!to) throw composeError("CHANNEL_PUBLISH_FAILED", "where to? give --to DIR or set updates.publishTo in the definition");
    const key = await updateSigningKey(definition, baseDir);
    const records = await publishCompose({ composeDir, definition, to, key, signal: ctx.signal });
    if (ctx.json) ctx.out.json({ repo: to, fingerprint: key.fingerprint, published: records });
    else {
      for (const r of records)
        ctx.out.line(
          `${r.variant}/${r.arch}: ${r.ref} -> ${r.commit}${r.previous ? ` (from ${r.previous.slice(0, 12)}, static delta)` : ""}${r.changed ? "" : " (already published)"}`,
        );
      ctx.out.line(`repository: ${to}; signed by ${key.fingerprint} (${key.path})`);
    }
    return 0;
  },
};
