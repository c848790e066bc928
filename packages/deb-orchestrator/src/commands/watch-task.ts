import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { printTaskProgress } from "../cli-support/watch.js";
import { taskIdArg } from "./task-info.js";

export const watchTaskCommand: CommandSpec = {
  name: "watch-task",
  summary: "Follow a task and its subtasks until they end (exit 0 when it closed, 1 when it failed).",
  args: [{ name: "task", description: "task id" }],
  options: [{ flags: "--log <name>", description: "also stream this log of the running buildArch subtasks (e.g. build.log)" }],
  async run(ctx) {
    const client = await clientFor(ctx);
    const id = taskIdArg(ctx.args[0]);
    const logName = (ctx.options as { log?: string }).log;
    const followed = new Set<number>();
    const follow = async (taskId: number) => {
      if (!logName || followed.has(taskId) || ctx.json) return;
      followed.add(taskId);
      const response = await client.taskLog(taskId, logName, { follow: true, timeoutMs: 7 * 24 * 3600_000, signal: ctx.signal });
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) process.stdout.write(chunk);
    };
    const followers: Promise<void>[] = [];
    const task = await printTaskProgress(client, id, ctx.json ? undefined : ctx.out, ctx.signal, (t) => {
      if (t.method === "buildArch" && t.state === "open") followers.push(follow(t.id).catch(() => {}));
    });
    await Promise.allSettled(followers);
    if (ctx.json) ctx.out.json(task);
    return task.state === "closed" ? 0 : 1;
  },
};
