import { resolve } from "node:path";
import type { CommandSpec } from "@debian-bootc/core";
import { checkCapabilities } from "../builder/capabilities.js";
import { daemonLogger } from "../cli-support/daemon-logger.js";
import { parseListen, settingsFromFlags } from "../daemon-config.js";
import { defaultLocalDataDir, startLocalOrchestrator } from "../local-orchestrator.js";
import { builderOptions, runnerFrom } from "./builder.js";

export const upCommand: CommandSpec = {
  name: "up",
  summary: "Run a hub on SQLite and a local builder in one process: the single-machine setup.",
  description:
    "Starts the hub with an embedded SQLite database under DATA, creates a builder user and token on first start, and runs a builder against it. The admin token is in DATA/admin.token; use it with --token-file for the client verbs.",
  options: [
    { flags: "--data <dir>", description: "state directory", default: defaultLocalDataDir() },
    { flags: "--listen <host:port>", description: "where the hub listens", default: "127.0.0.1:8470" },
    {
      flags: "--ostree <dir>",
      description: "serve the OSTree repositories published into DIR/NAME (deb-bootc-compose publish) at /ostree/NAME/",
    },
    ...builderOptions.filter((b) => !b.flags.startsWith("--name")),
  ],
  examples: [
    "deb-orchestrator up --capacity 2",
    "deb-orchestrator up --ostree /srv/ostree",
    "deb-orchestrator --hub http://127.0.0.1:8470 --token-file ~/.local/share/deb-orchestrator/admin.token list-hosts",
  ],
  async run(ctx) {
    const o = ctx.options as { data: string; listen: string; ostree?: string };
    const builder = settingsFromFlags("builder", ctx.options);
    await checkCapabilities(builder.capability);
    const logger = daemonLogger("deb-orchestrator", ctx.verbose);
    const { host, port } = parseListen(o.listen);
    const local = await startLocalOrchestrator({
      dataDir: o.data,
      ...(o.ostree ? { ostreeDir: resolve(o.ostree) } : {}),
      host,
      port,
      arches: builder.arch,
      capabilities: builder.capability,
      capacity: builder.capacity,
      runner: runnerFrom(builder, logger),
      workDir: builder["work-dir"],
      tokenLabel: "up",
      logger,
    });
    if (!ctx.json) ctx.out.warn(`hub ${local.hub.url}, builder '${local.builderName}'; admin token in ${local.hub.adminTokenFile}`);
    await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
    await local.close(builder.grace * 1000);
    return 0;
  },
};
