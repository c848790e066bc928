import { resolve } from "node:path";
import type { CommandSpec } from "@debian-bootc/core";
import { Environment } from "../environment.js";
import { stageLocalDeb } from "../run-in-environment.js";
import { commonOptions } from "./common.js";

export const installCommand: CommandSpec = {
  name: "install",
  summary: "Install packages into a kept snapshot (a new one unless --snapshot), for shell or chroot later.",
  args: [{ name: "packages", description: "package names, name=version, or .deb paths", variadic: true }],
  options: [{ flags: "--snapshot <id>", description: "install into this kept snapshot" }],
  examples: ["deb-mock install gdb strace", "deb-mock install --snapshot ID ./foo_1.0_amd64.deb"],
  async run(ctx) {
    const env = await Environment.open({
      ...commonOptions(ctx),
      snapshotId: ctx.options.snapshot as string | undefined,
      keep: true,
      purpose: "install",
    });
    try {
      const args: string[] = [];
      for (const pkg of ctx.args) {
        if (pkg.endsWith(".deb")) {
          args.push(await stageLocalDeb(env, resolve(pkg)));
        } else args.push(pkg);
      }
      await env.apt(["install", ...args]);
    } finally {
      await env.dispose({ keep: true });
    }
    if (ctx.json) ctx.out.json({ snapshot: env.id, installed: ctx.args });
    else ctx.out.line(`installed into snapshot ${env.id} (enter it with: deb-mock shell --snapshot ${env.id})`);
    return 0;
  },
};
