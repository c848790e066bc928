import { type CommandSpec, isCodedError } from "@debian-bootc/core";
import { runInEnvironment } from "../run-in-environment.js";
import { commonOptions } from "./common.js";

export const chrootCommand: CommandSpec = {
  name: "chroot",
  summary: "Run a command in a fresh snapshot (or a kept one); logged like a build's root.log.",
  description:
    "Run CMD in a snapshot of the profile's base, after installing --package PKG (repeatable). The exit code is the command's own when it fails. Use -- before the command so its options are not read as deb-mock's.",
  args: [{ name: "command", description: "the command and its arguments", variadic: true }],
  options: [
    { flags: "--package <pkg>", description: "install this package first (name, name=version, or a .deb path)", repeatable: true },
    { flags: "--snapshot <id>", description: "run in this kept snapshot" },
    { flags: "--user <who>", description: "root or the profile's build user", choices: ["root", "builder"], default: "root" },
    { flags: "--enable-network", description: "give the command the host's network", default: false },
    { flags: "--bind <src:dest>", description: "bind-mount a host directory (SRC:DEST)", repeatable: true },
  ],
  examples: ["deb-mock chroot -- dpkg -l", "deb-mock chroot --package ostree -- ostree --version"],
  async run(ctx) {
    const binds = ((ctx.options.bind as string[] | undefined) ?? []).map((b) => {
      const [source, target] = b.split(":");
      return { source: source ?? "", target: target ?? source ?? "" };
    });
    try {
      const result = await runInEnvironment({
        ...commonOptions(ctx),
        commands: [ctx.args],
        packages: (ctx.options.package as string[] | undefined) ?? [],
        snapshotId: ctx.options.snapshot as string | undefined,
        keep: ctx.options.snapshot !== undefined,
        user: ctx.options.user as "root" | "builder",
        network: ctx.options.enableNetwork === true,
        binds,
        onOutput: (chunk, stream) => (stream === "stdout" ? process.stdout : process.stderr).write(chunk),
      });
      if (ctx.json) ctx.out.json({ snapshot: result.snapshot, exitCode: 0, rootLog: result.rootLog });
      return 0;
    } catch (error) {
      if (isCodedError(error, "COMMAND_FAILED_IN_ENV")) {
        const code = Number(error.details?.exitCode);
        if (ctx.json) ctx.out.json({ exitCode: code });
        return Number.isInteger(code) && code > 0 ? code : 1;
      }
      throw error;
    }
  },
};
