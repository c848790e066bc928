import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";
import { taskIdArg } from "./task-info.js";

export const cancelCommand: CommandSpec = {
  name: "cancel",
  summary: "Cancel a task and its subtasks (the build it makes becomes canceled).",
  args: [{ name: "task", description: "task id" }],
  async run(ctx) {
    const id = taskIdArg(ctx.args[0]);
    await (await clientFor(ctx, { needToken: true })).cancelTask(id);
    emit(ctx, { task: id, state: "canceled" }, () => `task ${id} canceled`);
    return 0;
  },
};
