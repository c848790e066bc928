import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

export const tagBuildCommand: CommandSpec = {
  name: "tag-build",
  summary: "Tag a complete build into a tag and regenerate the tag's repository.",
  args: [
    { name: "tag", description: "tag name" },
    { name: "build", description: "build id or NAME/VERSION" },
  ],
  options: [{ flags: "--no-regen", description: "do not queue a repository regeneration" }],
  async run(ctx) {
    const [tag, build] = ctx.args as [string, string];
    const regen = (ctx.options as { regen?: boolean }).regen !== false;
    const answer = await (await clientFor(ctx, { needToken: true })).tagBuild(tag, build, { regen });
    emit(ctx, answer, () => `tagged ${build} into ${tag}${answer.repoTask ? `; newRepo task ${answer.repoTask}` : ""}`);
    return 0;
  },
};
