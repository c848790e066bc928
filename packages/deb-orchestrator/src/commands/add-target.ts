import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

export const addTargetCommand: CommandSpec = {
  name: "add-target",
  summary: "Create a build target: builds use BUILD_TAG's packages and land in DEST_TAG.",
  args: [
    { name: "name", description: "target name" },
    { name: "build-tag", description: "tag whose repository (and external repos) the builds use" },
    { name: "dest-tag", description: "tag the finished builds are tagged into" },
  ],
  async run(ctx) {
    const [name, buildTag, destTag] = ctx.args as [string, string, string];
    await (await clientFor(ctx, { needToken: true })).createTarget({ name, buildTag, destTag });
    emit(ctx, { name, buildTag, destTag }, () => `created target ${name}: ${buildTag} -> ${destTag}`);
    return 0;
  },
};
