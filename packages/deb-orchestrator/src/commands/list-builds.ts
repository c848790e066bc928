import type { CommandSpec } from "@debian-bootc/core";
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
      choices: ["building", "complete", "failed", "canceled", "deleted"],
    },
    { flags: "--limit <n>", description: "at most this many", default: "50" },
  ],
  async run(ctx) {
    const o = ctx.options as { package?: string; state?: string; limit: string };
    const query = new URLSearchParams({
      limit: o.limit,
      ...(o.package ? { name: o.package } : {}),
      ...(o.state ? { state: o.state } : {}),
    });
    const builds = await (await clientFor(ctx)).get<
      { id: number; name: string; version: string; state: string; task: number; createdAt: number }[]
    >(`/api/v1/builds?${query}`);
    emit(ctx, builds, () =>
      table(
        ["id", "package", "version", "state", "task", "created"],
        builds.map((b) => [b.id, b.name, b.version, b.state, b.task, when(b.createdAt)]),
      ),
    );
    return 0;
  },
};
