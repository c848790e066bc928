import { resolve } from "node:path";
import type { CommandSpec } from "@debian-bootc/core";
import { ComposeEvents } from "../compose/compose-events.js";
import { runDiskTask } from "../image-task/run-disk-task.js";

export const diskImageCommand: CommandSpec = {
  name: "disk-image",
  summary: "Make one variant/arch's disk images of a commit signed elsewhere (a deb-orchestrator builder's diskImage task)",
  description:
    "Read <workdir>/request.json (a diskImage request: the definition, the variant and arch, the commit and its detached signature), " +
    "unpack the commit's repository from <workdir>/inputs/ostree-repo.tar, write the signature as the commit's, refuse the commit unless " +
    "its ref points at it and, with an updates section, it bears a good signature by the channel key the image carries, then run " +
    "image-build (and the marker boot when asked) in <workdir>/compose/<compose ID>. Writes the results to <workdir>/out with " +
    "out/result.json naming them; progress goes to stderr. Run by a builder with the `image` capability, as root.",
  args: [{ name: "workdir", description: "the task's work directory the builder prepared" }],
  options: [],
  examples: ["deb-bootc-compose disk-image /var/lib/deb-orchestrator/builder/task-13-3 --json"],
  async run(ctx) {
    const events = new ComposeEvents();
    events.subscribe((e) => {
      if (e.kind === "ended") {
        const r = e.record;
        ctx.out.warn(`${r.name}: ${r.outcome}${r.durationMs === undefined ? "" : ` (${(r.durationMs / 1000).toFixed(1)} s)`}`);
        for (const note of r.notes ?? []) ctx.out.warn(`  ${note}`);
      } else if (e.kind === "started") ctx.out.warn(`${e.phase}: started`);
    });
    const result = await runDiskTask({ workDir: resolve(ctx.args[0]!), signal: ctx.signal, events });
    if (ctx.json) ctx.out.json({ ok: true, ...result });
    else for (const f of result.files) ctx.out.line(`${f.kind}: ${f.name}`);
    return 0;
  },
};
