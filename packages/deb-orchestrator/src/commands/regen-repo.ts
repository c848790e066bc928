import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";
import { printTaskProgress } from "../cli-support/watch.js";

export const regenRepoCommand: CommandSpec = {
  name: "regen-repo",
  summary: "Regenerate a tag's signed APT repository (a newRepo task).",
  args: [{ name: "tag", description: "tag name" }],
  options: [{ flags: "--wait", description: "wait until the repository is written", default: false }],
  async run(ctx) {
    const client = await clientFor(ctx, { needToken: true });
    const { task } = await client.regenRepo(ctx.args[0] ?? "");
    emit(ctx, { task }, () => `newRepo task ${task}`);
    if (!(ctx.options as { wait: boolean }).wait) return 0;
    return (await printTaskProgress(client, task, ctx.json ? undefined : ctx.out, ctx.signal)).state === "closed" ? 0 : 1;
  },
};
