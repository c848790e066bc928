import { hostname } from "node:os";
import type { CommandSpec, Logger } from "@debian-bootc/core";
import { type BuildRunner, NoopBuildRunner } from "../builder/build-runner.js";
import { Builder } from "../builder/builder.js";
import { checkCapabilities } from "../builder/capabilities.js";
import { DebMockRunner } from "../builder/deb-mock-runner.js";
import { ComposeCliImageRunner, type ImageRunner } from "../builder/image-runner.js";
import { clientFor } from "../cli-support/client-config.js";
import { daemonLogger } from "../cli-support/daemon-logger.js";
import { type BuilderSettings, configFileOptions, loadDaemonConfig, printCheckedConfig } from "../daemon-config.js";

/** The builder's settings as flags; `up` shares them. Defaults are daemon-config's builderDefaults. */
export const builderOptions = [
  { flags: "--name <name>", description: "this builder's host name at the hub (default: the machine's host name)" },
  { flags: "--arch <arch>", description: "an architecture this builder builds for (default amd64)", repeatable: true },
  {
    flags: "--capability <capability>",
    description:
      "what this builder runs: build (package builds, the default), image (a compose's image phases: needs root and the image tools)",
    repeatable: true,
    choices: ["build", "image"],
  },
  { flags: "--capacity <n>", description: "how many tasks run at once (default 1)" },
  { flags: "--work-dir <dir>", description: "scratch space for sources and results (default /var/tmp/deb-orchestrator-builder)" },
  {
    flags: "--runner <runner>",
    description: "what builds: deb-mock (the default), or noop (tests and benchmarks: packs a placeholder .deb)",
    choices: ["deb-mock", "noop"],
  },
  { flags: "--noop-delay-ms <ms>", description: "how long a noop build takes (default 0)" },
  { flags: "--profile-map <tag=profile>", description: "deb-mock profile for a build tag or architecture", repeatable: true },
  { flags: "--config-opt <key=value>", description: "deb-mock profile override", repeatable: true },
  { flags: "--grace <seconds>", description: "on SIGTERM: how long running tasks may finish before they are given back (default 300)" },
  {
    flags: "--compose-command <program>",
    description:
      "with the image capability: what runs a compose's image phases, as PROGRAM image-task W --json (default deb-bootc-compose on PATH)",
  },
  {
    flags: "--image-cache-dir <dir>",
    description: "the compose cache image tasks share, passed as --cache-dir (default: deb-bootc-compose's own)",
  },
] as const;

/** With the image capability: deb-bootc-compose image-task runs the image phases. */
export function imageRunnerFrom(s: BuilderSettings, logger?: Logger): ImageRunner | undefined {
  if (!s.capability.includes("image")) return undefined;
  return new ComposeCliImageRunner({
    command: [s["compose-command"]],
    ...(s["image-cache-dir"] ? { cacheDir: s["image-cache-dir"] } : {}),
    ...(logger ? { logger } : {}),
  });
}

export function runnerFrom(s: BuilderSettings, logger?: Logger): BuildRunner {
  if (s.runner === "noop") return new NoopBuildRunner({ delayMs: s["noop-delay-ms"] });
  return new DebMockRunner({ profileMap: s["profile-map"], configOpts: s["config-opt"], ...(logger ? { logger } : {}) });
}

export const builderCommand: CommandSpec = {
  name: "builder",
  summary: "Run a builder daemon: claim tasks from the hub and build them with deb-mock (or run compose image phases).",
  description:
    "Checks in with the hub (a new session frees tasks a crashed predecessor held), keeps CAPACITY long-poll claims open so work starts as soon as it is submitted, downloads sources, builds with deb-mock (extra repositories: the build tag's own repository and its external repos), streams build.log live, uploads the results and reports. With --capability image it also runs composes' image phases: each in its own work directory with `deb-bootc-compose image-task W --json` (--compose-command), image.log live, the files of W/out/result.json uploaded. Heartbeats renew its leases. On SIGTERM it stops claiming, lets running builds finish within --grace, then gives the rest back to the hub. The token needs the 'host' permission. Settings come from the flags (--hub and --token-file included), then builder.yaml (each key is a flag's name without the dashes), then the defaults; --check-config validates them and prints them.",
  options: [...configFileOptions("builder"), ...builderOptions],
  examples: [
    "deb-orchestrator builder --hub http://hub:8470 --token-file /etc/deb-orchestrator/builder.token --arch amd64 --capacity 2",
    "deb-orchestrator builder --check-config",
  ],
  async run(ctx) {
    const { path, settings } = await loadDaemonConfig("builder", ctx.options);
    const name = settings.name ?? hostname().split(".")[0] ?? "builder";
    if (ctx.options.checkConfig === true) return printCheckedConfig(ctx.out, ctx.json, path, { ...settings, name });
    await checkCapabilities(settings.capability, settings["compose-command"]);
    const client = await clientFor(
      { ...ctx, options: { ...ctx.options, hub: settings.hub, tokenFile: settings["token-file"] } },
      { needToken: true },
    );
    const logger = daemonLogger("deb-orchestrator-builder", ctx.verbose);
    const builder = new Builder({
      client,
      name,
      arches: settings.arch,
      capabilities: settings.capability,
      capacity: settings.capacity,
      runner: runnerFrom(settings, logger),
      imageRunner: imageRunnerFrom(settings, logger),
      workDir: settings["work-dir"],
      logger,
    });
    builder.on((event) => logger.info(event, event.type));
    await builder.start();
    await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
    logger.info({ running: builder.activeTasks }, "stopping: finishing or giving back running tasks");
    await builder.stop(settings.grace * 1000);
    return 0;
  },
};
