import { resolve } from "node:path";
import type { CommandSpec, Output } from "@debian-bootc/core";
import { ComposeEvents } from "../compose/compose-events.js";
import { runImageTask } from "../image-task/run-image-task.js";

export const imageTaskCommand: CommandSpec = {
  name: "image-task",
  summary: "Run one variant/arch's image phases of a compose made elsewhere (a deb-orchestrator builder's composeImage task)",
  description:
    "Read <workdir>/request.json (a composeImage request: the definition, the variant and arch, the compose's state), install from " +
    "the APT snapshot in <workdir>/snapshot with the definition's files from <workdir>/definition, and run rootfs, ostree, oci and lint " +
    "in <workdir>/compose/<compose ID>. The OSTree commit is left unsigned (the client signs it; its disk images are a disk-image run). Writes the results to " +
    "<workdir>/out with out/result.json naming them; progress goes to stderr. Run by a builder with the `image` capability, as root.",
  args: [{ name: "workdir", description: "the task's work directory the builder prepared" }],
  options: [{ flags: "--cache-dir <dir>", description: "shared cache of finished root trees", env: "DEB_BOOTC_COMPOSE_CACHE" }],
  examples: ["deb-bootc-compose image-task /var/lib/deb-orchestrator/builder/task-12-3 --json"],
  async run(ctx) {
    const o = ctx.options as { cacheDir?: string };
    const events = phaseProgress(ctx.out);
    const result = await runImageTask({
      workDir: resolve(ctx.args[0]!),
      ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
      signal: ctx.signal,
      events,
    });
    if (ctx.json) ctx.out.json({ ok: true, ...result });
    else for (const f of result.files) ctx.out.line(`${f.kind}: ${f.name}`);
    return 0;
  },
};

/** A builder's run's phases as they start and end, on stderr (the task's live log); stdout keeps the result. */
export function phaseProgress(out: Output): ComposeEvents {
  const events = new ComposeEvents();
  events.subscribe((e) => {
    if (e.kind === "ended") {
      const r = e.record;
      out.warn(`${r.name}: ${r.outcome}${r.durationMs === undefined ? "" : ` (${(r.durationMs / 1000).toFixed(1)} s)`}`);
      for (const note of r.notes ?? []) out.warn(`  ${note}`);
    } else if (e.kind === "started") out.warn(`${e.phase}: started`);
  });
  return events;
}
