import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

/** tag-build and untag-build: the same arguments and answer, the opposite change to the tag. */
function tagChangeCommand(name: string, summary: string, untag: boolean): CommandSpec {
  return {
    name,
    summary,
    args: [
      { name: "tag", description: "tag name" },
      { name: "build", description: "build id or NAME/VERSION" },
    ],
    options: [{ flags: "--no-regen", description: "do not queue a repository regeneration" }],
    async run(ctx) {
      const [tag, build] = ctx.args as [string, string];
      const regen = (ctx.options as { regen?: boolean }).regen !== false;
      const client = await clientFor(ctx, { needToken: true });
      const answer = untag ? await client.untagBuild(tag, build, { regen }) : await client.tagBuild(tag, build, { regen });
      const done = untag ? `removed ${build} from ${tag}` : `tagged ${build} into ${tag}`;
      emit(ctx, answer, () => `${done}${answer.repoTask ? `; newRepo task ${answer.repoTask}` : ""}`);
      return 0;
    },
  };
}

export const tagBuildCommand = tagChangeCommand("tag-build", "Tag a complete build into a tag and regenerate the tag's repository.", false);
export const untagBuildCommand = tagChangeCommand("untag-build", "Remove a build from a tag and regenerate the tag's repository.", true);
