import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";
import { autoRebuildCap } from "./edit-tag.js";

export const addTagCommand: CommandSpec = {
  name: "add-tag",
  summary: "Create a tag (a set of builds with ordered parents and its own architectures).",
  args: [{ name: "name", description: "tag name" }],
  options: [
    { flags: "--parent <tag>", description: "inherit from this tag; give several in priority order", repeatable: true },
    { flags: "--arches <list>", description: "architectures, comma or space separated", default: "amd64" },
    { flags: "--external-repo <name>", description: "use this external repo as build input", repeatable: true },
    {
      flags: "--auto-rebuild <cap>",
      description:
        "rebuild (binNMU) the tag's packages that build-depend on a build landing in it, at most CAP per change (default 0: off)",
    },
  ],
  examples: ["deb-orchestrator add-tag trixie-build --parent trixie-base --arches amd64,arm64"],
  async run(ctx) {
    const o = ctx.options as { parent: string[]; arches: string; externalRepo: string[]; autoRebuild?: string };
    const name = ctx.args[0] ?? "";
    await (await clientFor(ctx, { needToken: true })).createTag(name, {
      arches: o.arches.split(/[ ,]+/).filter(Boolean),
      parents: o.parent,
      externalRepos: o.externalRepo,
      ...(o.autoRebuild !== undefined ? { autoRebuild: autoRebuildCap(o.autoRebuild) } : {}),
    });
    emit(ctx, { tag: name }, () => `created tag ${name}`);
    return 0;
  },
};
