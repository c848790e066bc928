import { readFile, writeFile } from "node:fs/promises";
import { availableParallelism, homedir, hostname } from "node:os";
import { join, resolve } from "node:path";
import { isCodedError, type Logger, loadYamlFile, silentLogger } from "@debian-bootc/core";
import {
  Builder,
  type BuildRunner,
  DebianRepoPublisher,
  DebMockRunner,
  HubClient,
  type RunningHub,
  startHub,
} from "@debian-bootc/deb-orchestrator";
import { z } from "zod";
import type { ComposeDefinition } from "../definition.js";
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

/** The part of deb-orchestrator's client.yaml a compose reads. */
const clientConfigSchema = z.looseObject({
  hub: z
    .string()
    .regex(/^https?:\/\/\S+$/, "expected the hub's http(s):// URL")
    .optional(),
  token: z.string().min(10).optional(),
  "token-file": z.string().min(1).optional(),
});
type ClientConfig = z.output<typeof clientConfigSchema>;

export function defaultOrchestratorDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "deb-orchestrator");
}

/** The orchestrator client's configuration (~/.config/deb-orchestrator/client.yaml, then /etc/...). */
async function readClientConfig(env: NodeJS.ProcessEnv): Promise<{ path: string; config: ClientConfig } | undefined> {
  const xdg = env.XDG_CONFIG_HOME || join(homedir(), ".config");
  for (const path of [join(xdg, "deb-orchestrator", "client.yaml"), "/etc/deb-orchestrator/client.yaml"]) {
    try {
      await readFile(path);
    } catch {
      continue;
    }
    return { path, config: await loadYamlFile(path, clientConfigSchema) };
  }
  return undefined;
}

async function readToken(path: string, what: string): Promise<string> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (error) {
    throw composeError("ORCHESTRATOR_CONFIG", `cannot read the token file ${path} (${what}): ${(error as Error).message}`);
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/api/v1/health`, { signal: AbortSignal.timeout(1500) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** One connection per compose: opened on first use (build or pkgset phase), closed by the caller at the end. */
export class OrchestratorConnection {
  private opening: Promise<OpenHub> | undefined;
  private hub: RunningHub | undefined;
  private builder: Builder | undefined;
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
    const configured = await readClientConfig(env);
    const url = this.options.hub ?? definition.build?.hub ?? env.DEB_ORCHESTRATOR_HUB ?? configured?.config.hub;
    if (url) {
      let token = this.options.token ?? (this.options.tokenFile ? await readToken(this.options.tokenFile, "--token-file") : undefined);
      if (token === undefined && definition.build?.tokenFile)
        token = await readToken(resolve(baseDir, definition.build.tokenFile), "build.tokenFile");
      token ??= env.DEB_ORCHESTRATOR_TOKEN;
      if (token === undefined && configured?.config.token) token = configured.config.token;
      if (token === undefined && configured?.config["token-file"])
        token = await readToken(configured.config["token-file"], `token-file in ${configured.path}`);
      const client = new HubClient({ url, ...(token ? { token } : {}) });
      logger.info({ hub: client.url, token: token !== undefined }, "using a deb-orchestrator hub");
      return { url: client.url, mode: "remote", client };
    }
    const dataDir = this.options.dataDir ?? defaultOrchestratorDataDir(env);
    const upUrl = this.options.upUrl ?? "http://127.0.0.1:8470";
    if (upUrl !== "none" && (await answers(upUrl))) {
      const token = await readFile(join(dataDir, "admin.token"), "utf8").then(
        (t) => t.trim(),
        () => undefined,
      );
      if (token) {
        const client = new HubClient({ url: upUrl, token });
        const me = await client.get<{ name?: string }>("/api/v1/whoami").catch(() => undefined);
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
    let hub: RunningHub;
    try {
      hub = await startHub({
        db: `sqlite:${join(dataDir, "hub.db")}`,
        dataDir,
        host: "127.0.0.1",
        port: 0,
        publisher: await DebianRepoPublisher.forDataDir(dataDir),
        logger: logger.child({ component: "hub" }),
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
    this.hub = hub;
    const admin = new HubClient({ url: hub.url, token: (await readFile(hub.adminTokenFile, "utf8")).trim() });
    // the same builder user and token file as `deb-orchestrator up`
    const name = hostname().split(".")[0] || "local";
    const tokenFile = join(dataDir, "builder.token");
    let token = await readFile(tokenFile, "utf8").then(
      (t) => t.trim(),
      () => "",
    );
    if (!token) {
      await admin.post("/api/v1/users", { name: `builder-${name}`, perms: ["host"] }).catch((error) => {
        if (!isCodedError(error)) throw error;
      });
      token = (await admin.post<{ token: string }>(`/api/v1/users/builder-${name}/tokens`, { label: "deb-bootc-compose" })).token;
      await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    }
    const arches = definition.arches;
    const runner =
      this.options.runner ??
      new DebMockRunner({
        profileMap: Object.fromEntries(arches.map((a) => [a, `debian-${definition.suite}-${a}`])),
        logger: logger.child({ component: "deb-mock" }),
      });
    this.builder = new Builder({
      client: new HubClient({ url: hub.url, token }),
      name,
      arches,
      capacity: this.options.capacity ?? Math.max(1, Math.min(2, availableParallelism())),
      runner,
      workDir: this.options.workDir ?? join(dataDir, "builder-work"),
      logger: logger.child({ component: "builder" }),
    });
    await this.builder.start();
    logger.info({ hub: hub.url, dataDir, builder: name }, "started an embedded deb-orchestrator hub and builder");
    return { url: hub.url, mode: "embedded", client: admin, dataDir };
  }

  /** Stop the embedded hub and builder (running builds are given back; a later compose resumes them). */
  async close(graceMs = 2000): Promise<void> {
    await this.builder?.stop(graceMs);
    this.builder = undefined;
    await this.hub?.close();
    this.hub = undefined;
  }
}
