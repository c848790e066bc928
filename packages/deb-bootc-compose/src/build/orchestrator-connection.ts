import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { isCodedError, type Logger, silentLogger } from "@debian-bootc/core";
import { HubClient, resolveHubSettings } from "@debian-bootc/deb-orchestrator";
import {
  type BuildRunner,
  DebMockRunner,
  defaultLocalDataDir,
  type LocalOrchestrator,
  startLocalOrchestrator,
} from "@debian-bootc/deb-orchestrator/local";
import { type ComposeDefinition, hostInputPath } from "../definition.js";
import { composeError } from "../errors.js";

/**
 * How a compose reaches deb-orchestrator: a hub named by flags, the definition, the environment or the
 * orchestrator client's configuration file; else a running `deb-orchestrator up` on this machine; else an
 * embedded hub on SQLite with a local builder (what `deb-orchestrator up` runs) for the length of the
 * compose, in the same data directory as `deb-orchestrator up`, so builds are kept between composes.
 */

export type HubMode = "remote" | "up" | "embedded";

export interface OrchestratorOptions {
  /** Hub URL (the compose verb's --hub); wins over the definition's build.hub. */
  hub?: string;
  token?: string;
  tokenFile?: string;
  /** Embedded hub's state (default: `deb-orchestrator up`'s, $XDG_DATA_HOME/deb-orchestrator). */
  dataDir?: string;
  /** Where a running `deb-orchestrator up` is looked for (default http://127.0.0.1:8470); "none" never looks. */
  upUrl?: string;
  /** Embedded builder's runner (default: deb-mock with debian-<suite>-<arch>); tests pass a no-op runner. */
  runner?: BuildRunner;
  /** Embedded builder's capacity (default: 2 on a machine with 2 cores or more). */
  capacity?: number;
  /** Embedded builder's scratch directory (default DATA/builder-work). */
  workDir?: string;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

export interface OpenHub {
  url: string;
  mode: HubMode;
  client: HubClient;
  /** The embedded hub's or `up`'s data directory (where tag repositories live on disk). */
  dataDir?: string;
}

/** deb-orchestrator's client errors (a token file that cannot be read) as this package's. */
function asConfigError(error: unknown): unknown {
  if (isCodedError(error, "CLIENT_CONFIG")) return composeError("ORCHESTRATOR_CONFIG", error.message, { cause: error });
  return error;
}

async function answers(url: string): Promise<boolean> {
  return new HubClient({ url, timeoutMs: 1500 }).health().then(
    () => true,
    () => false,
  );
}

/** One connection per compose: opened on first use (build or pkgset phase), closed by the caller at the end. */
export class OrchestratorConnection {
  private opening: Promise<OpenHub> | undefined;
  private local: LocalOrchestrator | undefined;
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly options: OrchestratorOptions = {}) {
    this.env = options.env ?? process.env;
  }

  /** The hub for this compose (started when embedded); the same answer for every call. */
  open(definition: ComposeDefinition, baseDir: string, logger: Logger = this.options.logger ?? silentLogger): Promise<OpenHub> {
    this.opening ??= this.connect(definition, baseDir, logger);
    return this.opening;
  }

  /** The hub, when it was opened already (no side effects). */
  async opened(): Promise<OpenHub | undefined> {
    return this.opening ? await this.opening.catch(() => undefined) : undefined;
  }

  private async connect(definition: ComposeDefinition, baseDir: string, logger: Logger): Promise<OpenHub> {
    const env = this.env;
    // the compose's own choices first (flags, then the definition), then deb-orchestrator's client rules
    const tokenFile =
      this.options.tokenFile ??
      (definition.build?.tokenFile ? await hostInputPath(definition, baseDir, "build.tokenFile", definition.build.tokenFile) : undefined);
    const tokenFileOrigin = this.options.tokenFile ? "--token-file" : "build.tokenFile";
    const hub = this.options.hub ?? definition.build?.hub;
    const settings = await resolveHubSettings({
      ...(hub ? { hub } : {}),
      ...(this.options.token ? { token: this.options.token } : {}),
      ...(tokenFile ? { tokenFile, tokenFileOrigin } : {}),
      env,
    }).catch((error) => {
      throw asConfigError(error);
    });
    if (settings.url) {
      const { url, token } = settings;
      const client = new HubClient({ url, ...(token ? { token } : {}) });
      logger.info({ hub: client.url, token: token !== undefined }, "using a deb-orchestrator hub");
      return { url: client.url, mode: "remote", client };
    }
    const dataDir = this.options.dataDir ?? defaultLocalDataDir(env);
    const upUrl = this.options.upUrl ?? "http://127.0.0.1:8470";
    if (upUrl !== "none" && (await answers(upUrl))) {
      const token = await readFile(join(dataDir, "admin.token"), "utf8").then(
        (t) => t.trim(),
        () => undefined,
      );
      if (token) {
        const client = new HubClient({ url: upUrl, token });
        const me = await client.whoami().catch(() => undefined);
        if (me) {
          logger.info({ hub: upUrl, dataDir }, "using the running deb-orchestrator up");
          return { url: client.url, mode: "up", client, dataDir };
        }
      }
      logger.warn({ hub: upUrl, dataDir }, "a hub answers but not with the admin token of the data directory; starting an embedded hub");
    }
    return this.startEmbedded(definition, dataDir, logger);
  }

  private async startEmbedded(definition: ComposeDefinition, dataDir: string, logger: Logger): Promise<OpenHub> {
    const arches = definition.arches;
    const runner =
      this.options.runner ??
      new DebMockRunner({
        profileMap: Object.fromEntries(arches.map((a) => [a, `debian-${definition.suite}-${a}`])),
        logger: logger.child({ component: "deb-mock" }),
      });
    let local: LocalOrchestrator;
    try {
      local = await startLocalOrchestrator({
        dataDir,
        arches,
        capacity: this.options.capacity ?? Math.max(1, Math.min(2, availableParallelism())),
        runner,
        workDir: this.options.workDir ?? join(dataDir, "builder-work"),
        tokenLabel: "deb-bootc-compose",
        logger,
      });
    } catch (error) {
      throw composeError(
        "ORCHESTRATOR_FAILED",
        `cannot start the embedded deb-orchestrator hub in ${dataDir}: ${(error as Error).message}`,
        {
          cause: error,
          hint: "is another deb-orchestrator hub using this data directory? give --hub URL to use it, or --orchestrator-data DIR",
        },
      );
    }
    this.local = local;
    const { hub, builderName } = local;
    logger.info({ hub: hub.url, dataDir, builder: builderName }, "started an embedded deb-orchestrator hub and builder");
    return { url: hub.url, mode: "embedded", client: local.admin, dataDir };
  }

  /** Stop the embedded hub and builder (running builds are given back; a later compose resumes them). */
  async close(graceMs = 2000): Promise<void> {
    const local = this.local;
    this.local = undefined;
    await local?.close(graceMs);
  }
}
