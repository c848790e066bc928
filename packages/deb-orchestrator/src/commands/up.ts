import { resolve } from "node:path";
import { type CommandSpec, coreError, type Logger } from "@debian-bootc/core";
import type { BuilderCapability } from "../api/tasks.js";
import { checkCapabilities, currentHost, type HostFacts } from "../builder/capabilities.js";
import type { ImageRunner } from "../builder/image-runner.js";
import { daemonLogger } from "../cli-support/daemon-logger.js";
import { type BuilderSettings, parseListen, settingsFromFlags } from "../daemon-config.js";
import { defaultLocalDataDir, startLocalOrchestrator } from "../local-orchestrator.js";
import { builderOptions, imageRunnerFrom, runnerFrom } from "./builder.js";

export interface UpImages {
  capabilities: BuilderCapability[];
  imageRunner?: ImageRunner;
  /** Why the builder runs no image tasks, when it runs none. */
  without?: string;
}

/**
 * What `up`'s builder declares and how it runs image tasks: the --capability flags if given (checked as
 * the builder checks them); else build, and image too when this host can run a compose's image phases
 * (root, the image tools, and the compose command resolved as the builder runs it: deb-bootc-compose on
 * PATH unless --compose-command names another), so a hub started with `up` runs `--images-on hub` composes.
 * --no-images keeps it to build.
 */
export async function upImages(
  options: Record<string, unknown>,
  settings: BuilderSettings,
  logger?: Logger,
  host: HostFacts = currentHost(),
): Promise<UpImages> {
  const given = ((options.capability as string[] | undefined) ?? []).length > 0;
  if (options.images === false) {
    if (given && settings.capability.includes("image"))
      throw coreError("USAGE", "--no-images and --capability image contradict each other");
    return { capabilities: settings.capability, without: "--no-images" };
  }
  if (!given) {
    const problem = await checkCapabilities(["image"], settings["compose-command"], host).then(
      () => undefined,
      (error: unknown) => (error as Error).message,
    );
    if (problem) return { capabilities: settings.capability, without: problem };
    settings = { ...settings, capability: [...settings.capability, "image"] };
  }
  await checkCapabilities(settings.capability, settings["compose-command"], host);
  const imageRunner = imageRunnerFrom(settings, logger);
  return imageRunner
    ? { capabilities: settings.capability, imageRunner }
    : { capabilities: settings.capability, without: "--capability build only" };
}

export const upCommand: CommandSpec = {
  name: "up",
  summary: "Run a hub on SQLite and a local builder in one process: the single-machine setup.",
  description:
    "Starts the hub with an embedded SQLite database under DATA, creates a builder user and token on first start, and runs a builder against it. The builder runs package builds and, when this host can (root, the image tools, and deb-bootc-compose on PATH or --compose-command), composes' image phases too, so `deb-bootc-compose compose --images-on hub` works against it; --capability chooses explicitly, --no-images turns image tasks off. The admin token is in DATA/admin.token; use it with --token-file for the client verbs.",
  options: [
    { flags: "--data <dir>", description: "state directory", default: defaultLocalDataDir() },
    { flags: "--listen <host:port>", description: "where the hub listens", default: "127.0.0.1:8470" },
    {
      flags: "--ostree <dir>",
      description: "serve the OSTree repositories published into DIR/NAME (deb-bootc-compose publish) at /ostree/NAME/",
    },
    ...builderOptions.filter((b) => !b.flags.startsWith("--name")),
    {
      flags: "--no-images",
      description:
        "run no compose image tasks, even when this host could (by default the builder runs them when it runs as root with the image tools and the compose command)",
    },
  ],
  examples: [
    "deb-orchestrator up --capacity 2",
    "deb-orchestrator up --ostree /srv/ostree",
    "deb-orchestrator --hub http://127.0.0.1:8470 --token-file ~/.local/share/deb-orchestrator/admin.token list-hosts",
  ],
  async run(ctx) {
    const o = ctx.options as { data: string; listen: string; ostree?: string };
    const builder = settingsFromFlags("builder", ctx.options);
    const logger = daemonLogger("deb-orchestrator", ctx.verbose);
    const images = await upImages(ctx.options, builder, logger);
    const { host, port } = parseListen(o.listen);
    const local = await startLocalOrchestrator({
      dataDir: o.data,
      ...(o.ostree ? { ostreeDir: resolve(o.ostree) } : {}),
      host,
      port,
      arches: builder.arch,
      capabilities: images.capabilities,
      capacity: builder.capacity,
      runner: runnerFrom(builder, logger),
      ...(images.imageRunner ? { imageRunner: images.imageRunner } : {}),
      workDir: builder["work-dir"],
      tokenLabel: "up",
      logger,
    });
    if (!ctx.json) {
      ctx.out.warn(`hub ${local.hub.url}, builder '${local.builderName}'; admin token in ${local.hub.adminTokenFile}`);
      ctx.out.warn(images.without ? `no compose image tasks: ${images.without}` : `compose image tasks: ${builder["compose-command"]}`);
    }
    await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
    await local.close(builder.grace * 1000);
    return 0;
  },
};
