import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit, table, when } from "../cli-support/render.js";

export const buildInfoCommand: CommandSpec = {
  name: "build-info",
  summary: "Show a build: state, binaries, tags and buildroots.",
  args: [{ name: "build", description: "build id or NAME/VERSION" }],
  options: [{ flags: "--buildroot", description: "list the packages installed in each buildroot", default: false }],
  async run(ctx) {
    const build = await (await clientFor(ctx)).getBuild(ctx.args[0] ?? "");
    emit(ctx, build, () =>
      [
        `Build ${build.id}: ${build.name} ${build.version}`,
        `State: ${build.state}   Task: ${build.task ?? "-"}`,
        `Created: ${when(build.createdAt)}   Completed: ${when(build.completedAt)}`,
        `Tags: ${build.tags.join(", ") || "-"}`,
        "",
        table(
          ["file", "arch", "size", "sha256"],
          build.binaries.map((b) => [b.filename, b.arch, b.size, b.sha256]),
        ),
        ...build.buildroots.map((r) =>
          (ctx.options as { buildroot: boolean }).buildroot
            ? `\nBuildroot ${r.arch} (task ${r.task}):\n${table(
                ["package", "version", "arch"],
                r.installed.map((p) => [p.name, p.version, p.arch]),
              )}`
            : `Buildroot ${r.arch} (task ${r.task}): ${r.installed.length} packages`,
        ),
      ].join("\n"),
    );
    return 0;
  },
};
