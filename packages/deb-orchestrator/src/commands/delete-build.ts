import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

export const deleteBuildCommand: CommandSpec = {
  name: "delete-build",
  summary: "Delete a build (admin): state deleted, removed from every tag, their repositories regenerated.",
  description:
    "The build record and its history stay. Its artifacts are kept unless --remove-artifacts is given; then the stored files only this build refers to (its .debs, result files, source files) and its tasks' logs are removed, and files shared with another build are kept. A build that is still building must be canceled first. The name and version may be built again afterwards.",
  args: [{ name: "build", description: "build id or NAME/VERSION" }],
  options: [{ flags: "--remove-artifacts", description: "also remove the files only this build refers to", default: false }],
  examples: ["deb-orchestrator delete-build hello/2.10-3", "deb-orchestrator delete-build 42 --remove-artifacts"],
  async run(ctx) {
    const build = ctx.args[0] ?? "";
    const remove = (ctx.options as { removeArtifacts: boolean }).removeArtifacts;
    const answer = await (await clientFor(ctx, { needToken: true })).deleteBuild(build, { removeArtifacts: remove });
    emit(ctx, answer, () =>
      [
        `deleted ${answer.name}/${answer.version}`,
        answer.untagged.length ? `untagged from ${answer.untagged.join(", ")}` : "it was in no tag",
        answer.repoTasks.length ? `newRepo tasks ${answer.repoTasks.join(", ")}` : "",
        remove ? `${answer.removed.length} file(s) removed, ${answer.shared.length} shared file(s) kept` : "artifacts kept",
      ]
        .filter(Boolean)
        .join("; "),
    );
    return 0;
  },
};
