import { readFile, writeFile } from "node:fs/promises";
import { homedir, hostname } from "node:os";
import { join } from "node:path";
import { isCodedError, type Logger, silentLogger } from "@debian-bootc/core";
import type { BuilderCapability } from "./api/tasks.js";
import type { BuildRunner } from "./builder/build-runner.js";
import { Builder } from "./builder/builder.js";
import { DebMockRunner } from "./builder/deb-mock-runner.js";
import type { ImageRunner } from "./builder/image-runner.js";
import { HubClient } from "./client/hub-client.js";
import { debMockBuildBase } from "./hub/build-base.js";
import { type RunningHub, startHub } from "./hub/hub.js";
import { DebianRepoPublisher } from "./repo/debian-publisher.js";

/**
 * The single-machine setup (`deb-orchestrator up`, and deb-bootc-compose when no hub is configured): a
 * hub on SQLite under a data directory and one builder in the same process, with the builder's user and
 * token made on first start and kept in DATA/builder.token, so later starts reuse them.
 */

/** `deb-orchestrator up`'s data directory: $XDG_DATA_HOME/deb-orchestrator (~/.local/share/deb-orchestrator). */
export function defaultLocalDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "deb-orchestrator");
}

export interface LocalOrchestratorOptions {
  dataDir: string;
  /** Where the hub listens (default 127.0.0.1, port 0: a free one). */
  host?: string;
  port?: number;
  arches: readonly string[];
  /** What the builder declares (default: build). */
  capabilities?: readonly BuilderCapability[];
  capacity: number;
  runner: BuildRunner;
  /** Runs composeImage, diskImage and updateTest tasks (with the image capability). */
  imageRunner?: ImageRunner;
  /** The builder's scratch directory. */
  workDir: string;
  /** Published OSTree repositories the hub serves at /ostree/ (deb-bootc-compose publish --to DIR/NAME). */
  ostreeDir?: string;
  /** The builder's host name at the hub (default: this machine's short host name). */
  builderName?: string;
  /** Label of the builder token made on first start (default "up"). */
  tokenLabel?: string;
  logger?: Logger;
}

export interface LocalOrchestrator {
  hub: RunningHub;
  builder: Builder;
  builderName: string;
  /** A client with the hub's admin token (DATA/admin.token). */
  admin: HubClient;
  /** Stop the builder (running tasks may finish within graceMs, the rest are given back), then the hub. */
  close(graceMs: number): Promise<void>;
}

/** The builder's token from DATA/builder.token, or a new user and token for it (written there). */
async function builderToken(admin: HubClient, dataDir: string, name: string, label: string): Promise<string> {
  const tokenFile = join(dataDir, "builder.token");
  const existing = await readFile(tokenFile, "utf8").then(
    (t) => t.trim(),
    () => "",
  );
  if (existing) return existing;
  await admin.createUser(`builder-${name}`, ["host"]).catch((error: unknown) => {
    if (!isCodedError(error, "ALREADY_EXISTS")) throw error; // exists already: a new token for it
  });
  const { token } = await admin.createToken(`builder-${name}`, { label });
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  return token;
}

/** Start the hub (SQLite in DATA/hub.db, repositories signed with DATA's key) and a builder against it. */
export async function startLocalOrchestrator(options: LocalOrchestratorOptions): Promise<LocalOrchestrator> {
  const logger = options.logger ?? silentLogger;
  const { dataDir } = options;
  const runner = options.runner;
  const hub = await startHub({
    db: `sqlite:${join(dataDir, "hub.db")}`,
    dataDir,
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    publisher: await DebianRepoPublisher.forDataDir(dataDir),
    ...(options.ostreeDir ? { ostreeDir: options.ostreeDir } : {}),
    // the dep-wait check searches the base the builder's deb-mock profile gives; another runner has none
    buildBase: runner instanceof DebMockRunner ? debMockBuildBase((buildTag, arch) => runner.profileFor({ buildTag, arch })) : false,
    logger: logger.child({ component: "hub" }),
  });
  try {
    const admin = new HubClient({ url: hub.url, token: (await readFile(hub.adminTokenFile, "utf8")).trim() });
    const builderName = options.builderName ?? (hostname().split(".")[0] || "local");
    const token = await builderToken(admin, dataDir, builderName, options.tokenLabel ?? "up");
    const builder = new Builder({
      client: new HubClient({ url: hub.url, token }),
      name: builderName,
      arches: [...options.arches],
      ...(options.capabilities ? { capabilities: options.capabilities } : {}),
      capacity: options.capacity,
      runner: options.runner,
      ...(options.imageRunner ? { imageRunner: options.imageRunner } : {}),
      workDir: options.workDir,
      logger: logger.child({ component: "builder" }),
    });
    await builder.start();
    return {
      hub,
      builder,
      builderName,
      admin,
      async close(graceMs) {
        await builder.stop(graceMs);
        await hub.close();
      },
    };
  } catch (error) {
    await hub.close().catch(() => {});
    throw error;
  }
}
