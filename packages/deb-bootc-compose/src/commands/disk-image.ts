import { resolve } from "node:path";
import type { CommandSpec } from "@debian-bootc/core";
import { runDiskTask } from "../image-task/run-disk-task.js";
import { phaseProgress } from "./image-task.js";

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
    const events = phaseProgress(ctx.out);
    const result = await runDiskTask({ workDir: resolve(ctx.args[0]!), signal: ctx.signal, events });
    if (ctx.json) ctx.out.json({ ok: true, ...result });
    else for (const f of result.files) ctx.out.line(`${f.kind}: ${f.name}`);
    return 0;
  },
};
