import type { CommandSpec } from "@debian-bootc/core";
import { Environment } from "../environment.js";
import { commonOptions } from "./common.js";

export const shellCommand: CommandSpec = {
  name: "shell",
  summary: "An interactive shell in a fresh snapshot (discarded on exit) or in a kept one.",
  options: [
    { flags: "--snapshot <id>", description: "enter this kept snapshot (from build --no-clean or install) instead of a fresh one" },
    { flags: "--keep", description: "keep the fresh snapshot after the shell exits", default: false },
    { flags: "--user <who>", description: "root or the profile's build user", choices: ["root", "builder"], default: "root" },
    { flags: "--enable-network", description: "give the shell the host's network", default: false },
  ],
  examples: ["deb-mock shell", "deb-mock shell --snapshot debian-trixie-amd64-20250101T000000Z-1234-abcdef --user builder"],
  async run(ctx) {
    const env = await Environment.open({
      ...commonOptions(ctx),
      snapshotId: ctx.options.snapshot as string | undefined,
      keep: ctx.options.keep === true,
      purpose: "shell",
    });
    try {
      ctx.out.warn(
        `deb-mock: shell in snapshot ${env.id} (exit to leave${ctx.options.keep || ctx.options.snapshot ? "" : "; the snapshot is discarded"})`,
      );
      return await env.runInteractive(["/bin/bash", "-l"], {
        user: ctx.options.user as "root" | "builder",
        network: ctx.options.enableNetwork === true,
        cwd: "/build",
        env: { TERM: process.env.TERM ?? "dumb", PS1: "(deb-mock) \\u@\\h:\\w\\$ " },
      });
    } finally {
      await env.dispose({ keep: ctx.options.keep === true || ctx.options.snapshot !== undefined });
    }
  },
};
