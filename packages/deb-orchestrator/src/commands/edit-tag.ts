import { type CommandSpec, coreError } from "@debian-bootc/core";
import type { TagSpec } from "../api/tags.js";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

/** --auto-rebuild's value: a whole number from 0 (off) to 1000. */
export function autoRebuildCap(text: string): number {
  const cap = Number(text);
  if (!/^[0-9]+$/.test(text) || cap > 1000) throw coreError("USAGE", `--auto-rebuild ${text}: expected a number from 0 (off) to 1000`);
  return cap;
}

export const editTagCommand: CommandSpec = {
  name: "edit-tag",
  summary: "Change a tag's architectures, parents (replaces the list) or external repos.",
  args: [{ name: "name", description: "tag name" }],
  options: [
    { flags: "--arches <list>", description: "new architectures, comma or space separated" },
    { flags: "--parent <tag>", description: "new parent list, in priority order", repeatable: true },
    { flags: "--no-parents", description: "remove every parent" },
    { flags: "--external-repo <name>", description: "new external repo list, in priority order", repeatable: true },
    {
      flags: "--auto-rebuild <cap>",
      description:
        "rebuild (binNMU) the tag's packages that build-depend on a build landing in it, at most CAP per change; 0 switches it off",
    },
  ],
  async run(ctx) {
    const o = ctx.options as { arches?: string; parent: string[]; parents?: boolean; externalRepo: string[]; autoRebuild?: string };
    const body: TagSpec = {};
    if (o.arches) body.arches = o.arches.split(/[ ,]+/).filter(Boolean);
    if (o.parent.length) body.parents = o.parent;
    if (o.parents === false) body.parents = [];
    if (o.externalRepo.length) body.externalRepos = o.externalRepo;
    if (o.autoRebuild !== undefined) body.autoRebuild = autoRebuildCap(o.autoRebuild);
    if (Object.keys(body).length === 0)
      throw coreError("USAGE", "nothing to change: give --arches, --parent, --no-parents, --external-repo or --auto-rebuild");
    const tag = await (await clientFor(ctx, { needToken: true })).editTag(ctx.args[0] ?? "", body);
    emit(
      ctx,
      tag,
      () =>
        `tag ${tag.name}: arches ${tag.arches.join(" ")}; inheritance ${tag.inheritance.join(" -> ")}${tag.autoRebuild ? `; automatic rebuilds, at most ${tag.autoRebuild} per change` : ""}`,
    );
    return 0;
  },
};
