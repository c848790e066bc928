import type { CommandSpec } from "@debian-bootc/core";
import { type BuildState, buildStates } from "../api/builds.js";
import { clientFor } from "../cli-support/client-config.js";
import { emit, table, when } from "../cli-support/render.js";

export const listBuildsCommand: CommandSpec = {
  name: "list-builds",
  summary: "List builds, newest first.",
  options: [
    { flags: "--package <name>", description: "only builds of this source package" },
    {
      flags: "--state <state>",
      description: "only builds in this state",
      choices: [...buildStates],
    },
    { flags: "--limit <n>", description: "at most this many", default: "50" },
  ],
  async run(ctx) {
    const o = ctx.options as { package?: string; state?: BuildState; limit: string };
    const builds = await (await clientFor(ctx)).listBuilds({ limit: Number(o.limit), name: o.package, state: o.state });
    emit(ctx, builds, () =>
      table(
        ["id", "package", "version", "state", "task", "created"],
        builds.map((b) => [b.id, b.name, b.version, b.state, b.task, when(b.createdAt)]),
      ),
    );
    return 0;
  },
};
