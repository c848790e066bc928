import { hostname } from "node:os";
import { type CommandSpec, coreError, type Logger } from "@debian-bootc/core";
import { type BuildRunner, NoopBuildRunner } from "../builder/build-runner.js";
import { Builder } from "../builder/builder.js";
import { DebMockRunner } from "../builder/deb-mock-runner.js";
import { clientFor } from "../cli-support/client-config.js";
import { daemonLogger } from "../cli-support/daemon-logger.js";

export const builderOptions = [
  { flags: "--name <name>", description: "this builder's host name at the hub (default: the machine's host name)" },
  { flags: "--arch <arch>", description: "an architecture this builder builds for", repeatable: true },
  { flags: "--capacity <n>", description: "how many tasks run at once", default: "1" },
  { flags: "--work-dir <dir>", description: "scratch space for sources and results", default: "/var/tmp/deb-orchestrator-builder" },
  {
    flags: "--runner <runner>",
    description: "what builds: deb-mock, or noop (tests and benchmarks: packs a placeholder .deb)",
    choices: ["deb-mock", "noop"],
    default: "deb-mock",
  },
  { flags: "--noop-delay-ms <ms>", description: "how long a noop build takes", default: "0" },
  { flags: "--profile-map <tag=profile>", description: "deb-mock profile for a build tag or architecture", repeatable: true },
  { flags: "--config-opt <key=value>", description: "deb-mock profile override", repeatable: true },
  { flags: "--grace <seconds>", description: "on SIGTERM: how long running tasks may finish before they are given back", default: "300" },
] as const;

export function runnerFrom(o: Record<string, unknown>, logger?: Logger): BuildRunner {
  if (o.runner === "noop") return new NoopBuildRunner({ delayMs: Number(o.noopDelayMs ?? 0) });
  const profileMap: Record<string, string> = {};
  for (const entry of (o.profileMap as string[] | undefined) ?? []) {
    const [key, value] = entry.split("=", 2);
    if (!key || !value) throw coreError("USAGE", `--profile-map '${entry}': expected TAG=PROFILE or ARCH=PROFILE`);
    profileMap[key] = value;
  }
  return new DebMockRunner({ profileMap, configOpts: (o.configOpt as string[] | undefined) ?? [], ...(logger ? { logger } : {}) });
}

export const builderCommand: CommandSpec = {
  name: "builder",
  summary: "Run a builder daemon: claim tasks from the hub and build them with deb-mock.",
  description:
    "Checks in with the hub (a new session frees tasks a crashed predecessor held), keeps CAPACITY long-poll claims open so work starts as soon as it is submitted, downloads sources, builds with deb-mock (extra repositories: the build tag's own repository and its external repos), streams build.log live, uploads the results and reports. Heartbeats renew its leases. On SIGTERM it stops claiming, lets running builds finish within --grace, then gives the rest back to the hub. The token needs the 'host' permission.",
  options: builderOptions,
  examples: ["deb-orchestrator builder --hub http://hub:8470 --token-file /etc/deb-orchestrator/builder.token --arch amd64 --capacity 2"],
  async run(ctx) {
    const o = ctx.options as Record<string, unknown> & { name?: string; arch: string[]; capacity: string; workDir: string; grace: string };
    const client = await clientFor(ctx, { needToken: true });
    const logger = daemonLogger("deb-orchestrator-builder", ctx.verbose);
    const capacity = Number(o.capacity);
    if (!Number.isInteger(capacity) || capacity < 1) throw coreError("USAGE", "--capacity must be a positive integer");
    const builder = new Builder({
      client,
      name: o.name ?? hostname().split(".")[0] ?? "builder",
      arches: o.arch.length ? o.arch : ["amd64"],
      capacity,
      runner: runnerFrom(o, logger),
      workDir: o.workDir,
      logger,
    });
    builder.on((event) => logger.info(event, event.type));
    await builder.start();
    await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
    logger.info({ running: builder.activeTasks }, "stopping: finishing or giving back running tasks");
    await builder.stop(Number(o.grace) * 1000);
    return 0;
  },
};
