import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

export const untagBuildCommand: CommandSpec = {
  name: "untag-build",
  summary: "Remove a build from a tag and regenerate the tag's repository.",
  args: [
    { name: "tag", description: "tag name" },
    { name: "build", description: "build id or NAME/VERSION" },
  ],
  options: [{ flags: "--no-regen", description: "do not queue a repository regeneration" }],
  async run(ctx) {
    const [tag, build] = ctx.args as [string, string];
    const regen = (ctx.options as { regen?: boolean }).regen !== false;
    const query = new URLSearchParams({ build, regen: String(regen) });
    const answer = await (await clientFor(ctx, { needToken: true })).call<{ repoTask: number | null }>(
      "DELETE",
      `/api/v1/tags/${encodeURIComponent(tag)}/builds?${query}`,
    );
    emit(ctx, answer, () => `removed ${build} from ${tag}${answer.repoTask ? `; newRepo task ${answer.repoTask}` : ""}`);
    return 0;
  },
};
