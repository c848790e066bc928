import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit, table } from "../cli-support/render.js";

export const listTagsCommand: CommandSpec = {
  name: "list-tags",
  summary: "List tags with their architectures, parents and repository.",
  async run(ctx) {
    const tags = await (await clientFor(ctx)).listTags();
    emit(ctx, tags, () =>
      table(
        ["tag", "arches", "parents", "external repos", "repo"],
        tags.map((t) => [
          t.name,
          t.arches.join(","),
          t.parents.join(",") || "-",
          t.externalRepos.join(",") || "-",
          t.repo ? `#${t.repo.number}` : "-",
        ]),
      ),
    );
    return 0;
  },
};
