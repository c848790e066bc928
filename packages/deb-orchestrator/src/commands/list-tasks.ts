import type { CommandSpec } from "@debian-bootc/core";
import { type TaskState, taskMethods, taskStates } from "../api/tasks.js";
import { clientFor } from "../cli-support/client-config.js";
import { emit, table, when } from "../cli-support/render.js";

export const listTasksCommand: CommandSpec = {
  name: "list-tasks",
  summary: "List tasks, newest first.",
  options: [
    {
      flags: "--state <state>",
      description: "only tasks in this state",
      repeatable: true,
      choices: [...taskStates],
    },
    { flags: "--method <method>", description: `only tasks of this method (${taskMethods.join(", ")})` },
    { flags: "--all", description: "include subtasks, not only top-level tasks", default: false },
    { flags: "--limit <n>", description: "at most this many", default: "50" },
  ],
  examples: ["deb-orchestrator list-tasks --state open --state free", "deb-orchestrator list-tasks --all --json"],
  async run(ctx) {
    const o = ctx.options as { state: TaskState[]; method?: string; all: boolean; limit: string };
    const tasks = await (await clientFor(ctx)).listTasks({
      limit: Number(o.limit),
      ...(o.state.length ? { state: o.state } : {}),
      method: o.method,
      ...(o.all ? {} : { top: true }),
    });
    emit(ctx, tasks, () =>
      table(
        ["id", "method", "arch", "state", "host", "created", "parent"],
        tasks.map((t) => [t.id, t.method, t.arch, t.state, t.host, when(t.createdAt), t.parent]),
      ),
    );
    return 0;
  },
};
