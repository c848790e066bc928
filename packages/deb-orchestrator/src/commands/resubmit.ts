import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";
import { printTaskProgress } from "../cli-support/watch.js";
import { taskIdArg } from "./task-info.js";

export const resubmitCommand: CommandSpec = {
  name: "resubmit",
  summary: "Run a failed or canceled top-level task again as a new task.",
  args: [{ name: "task", description: "task id" }],
  options: [{ flags: "--wait", description: "watch the new task until it ends", default: false }],
  async run(ctx) {
    const client = await clientFor(ctx, { needToken: true });
    const { task } = await client.resubmitTask(taskIdArg(ctx.args[0]));
    emit(ctx, { task }, () => `created task ${task}`);
    if (!(ctx.options as { wait: boolean }).wait) return 0;
    return (await printTaskProgress(client, task, ctx.json ? undefined : ctx.out, ctx.signal)).state === "closed" ? 0 : 1;
  },
};
