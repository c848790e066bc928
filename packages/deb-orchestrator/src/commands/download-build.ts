import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

export const downloadBuildCommand: CommandSpec = {
  name: "download-build",
  summary: "Download a build's .debs (checked by sha256) into a directory.",
  args: [{ name: "build", description: "build id or NAME/VERSION" }],
  options: [
    { flags: "--dir <dir>", description: "where to put the files", default: "." },
    { flags: "--arch <arch>", description: "only this architecture (and all)", repeatable: true },
  ],
  async run(ctx) {
    const o = ctx.options as { dir: string; arch: string[] };
    const client = await clientFor(ctx);
    const build = await client.getBuild(ctx.args[0] ?? "");
    await mkdir(o.dir, { recursive: true });
    const chosen = build.binaries.filter((b) => o.arch.length === 0 || o.arch.includes(b.arch) || b.arch === "all");
    for (const binary of chosen) {
      await client.downloadArtifact(binary.sha256, join(o.dir, binary.filename));
      if (!ctx.json) ctx.out.line(`${join(o.dir, binary.filename)} (${binary.size} bytes)`);
    }
    if (ctx.json)
      emit(
        ctx,
        chosen.map((b) => join(o.dir, b.filename)),
        () => "",
      );
    return 0;
  },
};
