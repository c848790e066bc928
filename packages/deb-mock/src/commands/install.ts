import { copyFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import type { CommandSpec } from "@debian-bootc/core";
import { Environment } from "../environment.js";
import { giveToRange, makeRangeDirs } from "../range-fs.js";
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
          await makeRangeDirs(env.snapshot.build, [".debs"]);
          await copyFile(resolve(pkg), join(env.snapshot.build, ".debs", basename(pkg)));
          await giveToRange([join(env.snapshot.build, ".debs", basename(pkg))]);
          args.push(`/build/.debs/${basename(pkg)}`);
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
