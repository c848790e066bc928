import { type CommandSpec, coreError } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit, table, when } from "../cli-support/render.js";

export function taskIdArg(value: string | undefined): number {
  if (!value || !/^[1-9][0-9]{0,11}$/.test(value)) throw coreError("USAGE", `'${value ?? ""}' is not a task id`);
  return Number(value);
}

export const taskInfoCommand: CommandSpec = {
  name: "task-info",
  summary: "Show a task: state, children, files, logs and history.",
  args: [{ name: "task", description: "task id" }],
  async run(ctx) {
    const task = await (await clientFor(ctx)).getTask(taskIdArg(ctx.args[0]));
    emit(ctx, task, () =>
      [
        `Task ${task.id}: ${task.method}${task.arch ? ` (${task.arch})` : ""}`,
        `State: ${task.state}${task.host ? ` on ${task.host}` : ""}`,
        `Priority: ${task.priority}   Attempts: ${task.attempts}   Parent: ${task.parent ?? "-"}`,
        `Created: ${when(task.createdAt)}   Started: ${when(task.startedAt)}   Completed: ${when(task.completedAt)}`,
        ...(task.error ? [`Error: ${task.error.code}: ${task.error.message}`] : []),
        ...(task.children.length
          ? [
              "",
              "Children:",
              table(
                ["id", "label", "method", "arch", "state", "host"],
                task.children.map((c) => [c.id, c.label, c.method, c.arch, c.state, c.host]),
              ),
            ]
          : []),
        ...(task.files.length
          ? [
              "",
              "Files:",
              table(
                ["name", "size", "sha256"],
                task.files.map((f) => [f.name, f.size, f.sha256]),
              ),
            ]
          : []),
        ...(task.logs.length ? ["", "Logs:", ...task.logs.map((l) => `  ${l.name} (${l.size} bytes)`)] : []),
        "",
        "History:",
        ...task.history.map(
          (h) =>
            `  ${when(h.time)} ${h.kind}${h.state ? ` ${h.state}` : ""}${h.host ? ` ${h.host}` : ""}${h.reason ? ` (${h.reason})` : ""}`,
        ),
      ].join("\n"),
    );
    return 0;
  },
};
