import { type CommandSpec, coreError } from "@debian-bootc/core";
import type { TagSpec } from "../api/tags.js";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

export const editTagCommand: CommandSpec = {
  name: "edit-tag",
  summary: "Change a tag's architectures, parents (replaces the list) or external repos.",
  args: [{ name: "name", description: "tag name" }],
  options: [
    { flags: "--arches <list>", description: "new architectures, comma or space separated" },
    { flags: "--parent <tag>", description: "new parent list, in priority order", repeatable: true },
    { flags: "--no-parents", description: "remove every parent" },
    { flags: "--external-repo <name>", description: "new external repo list, in priority order", repeatable: true },
  ],
  async run(ctx) {
    const o = ctx.options as { arches?: string; parent: string[]; parents?: boolean; externalRepo: string[] };
    const body: TagSpec = {};
    if (o.arches) body.arches = o.arches.split(/[ ,]+/).filter(Boolean);
    if (o.parent.length) body.parents = o.parent;
    if (o.parents === false) body.parents = [];
    if (o.externalRepo.length) body.externalRepos = o.externalRepo;
    if (Object.keys(body).length === 0)
      throw coreError("USAGE", "nothing to change: give --arches, --parent, --no-parents or --external-repo");
    const tag = await (await clientFor(ctx, { needToken: true })).editTag(ctx.args[0] ?? "", body);
    emit(ctx, tag, () => `tag ${tag.name}: arches ${tag.arches.join(" ")}; inheritance ${tag.inheritance.join(" -> ")}`);
    return 0;
  },
};
