import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";
import { sourceFiles } from "../cli-support/source-files.js";
import { printTaskProgress } from "../cli-support/watch.js";

export const buildCommand: CommandSpec = {
  name: "build",
  summary: "Upload a source package and build it for a target.",
  description:
    "Uploads the .dsc and the files it lists (streamed, checked by sha256 on the hub), then submits a build task: one buildArch per architecture of the target's build tag, then tagging into the destination tag and a regeneration of its signed APT repository. A directory is packed with 'dpkg-source -b' first.",
  args: [
    { name: "target", description: "build target (see list-targets)" },
    { name: "source", description: "a .dsc file or an unpacked source directory" },
  ],
  options: [
    { flags: "--wait", description: "watch the task until it ends; exit 1 if it failed", default: false },
    { flags: "--scratch", description: "build without creating a build record or tagging", default: false },
    { flags: "--arch <arch>", description: "build only for this architecture", repeatable: true },
    { flags: "--priority <n>", description: "lower runs first (default 20)" },
  ],
  examples: ["deb-orchestrator build trixie hello_2.10-3.dsc --wait", "deb-orchestrator build trixie ./hello-2.10 --scratch"],
  async run(ctx) {
    const [target, input] = ctx.args as [string, string];
    const o = ctx.options as { wait: boolean; scratch: boolean; arch: string[]; priority?: string };
    const client = await clientFor(ctx, { needToken: true });
    const source = await sourceFiles(input);
    const { task } = await client.submitSource(source, {
      target,
      ...(o.scratch ? { scratch: true } : {}),
      ...(o.arch.length ? { arches: o.arch } : {}),
      ...(o.priority ? { priority: Number(o.priority) } : {}),
    });
    emit(ctx, { task }, () => `created task ${task}${o.wait ? "" : `; follow it with: deb-orchestrator watch-task ${task}`}`);
    if (!o.wait) return 0;
    const final = await printTaskProgress(client, task, ctx.json ? undefined : ctx.out, ctx.signal);
    if (final.state !== "closed" && !ctx.json) {
      const why = await client.whyTask(task);
      ctx.out.error(why.reason);
    }
    return final.state === "closed" ? 0 : 1;
  },
};
