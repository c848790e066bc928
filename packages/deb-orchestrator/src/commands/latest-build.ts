import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit, table } from "../cli-support/render.js";

export const latestBuildCommand: CommandSpec = {
  name: "latest-build",
  summary: "The latest build of a package in a tag, following the tag's inheritance.",
  args: [
    { name: "tag", description: "tag name" },
    { name: "package", description: "source package name" },
  ],
  async run(ctx) {
    const [tag, pkg] = ctx.args as [string, string];
    const latest = await (await clientFor(ctx)).latestTagged(tag, pkg);
    emit(ctx, latest, () =>
      table(["build", "package", "version", "tagged in"], [[latest.buildId, latest.name, latest.version, latest.tag]]),
    );
    return 0;
  },
};
