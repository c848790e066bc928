import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { loadYamlFile } from "@debian-bootc/core";
import { z } from "zod";
import { orchestratorError } from "../errors.js";

/** ~/.config/deb-orchestrator/client.yaml (then /etc/deb-orchestrator/client.yaml). */
export const clientConfigSchema = z
  .object({
    hub: z.url().optional().describe("The hub's base URL, e.g. http://hub.example:8470"),
    token: z.string().min(10).optional().describe("API token (prefer token-file)"),
    "token-file": z.string().min(1).optional().describe("File holding the API token"),
  })
  .strict();

export type ClientConfig = z.output<typeof clientConfigSchema>;

/** Where the client configuration is looked for, first match wins. */
export function clientConfigPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  const xdg = env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return [join(xdg, "deb-orchestrator", "client.yaml"), "/etc/deb-orchestrator/client.yaml"];
}

/** The client configuration: the explicit file, else the first of clientConfigPaths() that exists. */
export async function readClientConfig(
  options: { file?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ path: string; config: ClientConfig } | undefined> {
  if (options.file) return { path: options.file, config: await loadYamlFile(options.file, clientConfigSchema) };
  for (const path of clientConfigPaths(options.env)) {
    try {
      await readFile(path);
    } catch {
      continue;
    }
    return { path, config: await loadYamlFile(path, clientConfigSchema) };
  }
  return undefined;
}

/** A token (or secret) file's content, trimmed; `origin` says where its name came from, for the error. */
export async function readTokenFile(path: string, origin?: string): Promise<string> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (error) {
    throw orchestratorError(
      "CLIENT_CONFIG",
      `cannot read the token file ${path}${origin ? ` (${origin})` : ""}: ${(error as Error).message}`,
    );
  }
}

export interface HubSettingsRequest {
  /** An explicit hub URL (a flag); wins over the environment and the configuration file. */
  hub?: string;
  /** An explicit token; wins over tokenFile, the environment and the configuration file. */
  token?: string;
  tokenFile?: string;
  /** Where tokenFile was named (for the error when it cannot be read), e.g. "--token-file". */
  tokenFileOrigin?: string;
  /** An explicit configuration file instead of clientConfigPaths(). */
  configFile?: string;
  /** DEB_ORCHESTRATOR_HUB, DEB_ORCHESTRATOR_TOKEN, XDG_CONFIG_HOME (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface HubSettings {
  /** The hub URL, when any source names one. */
  url?: string;
  token?: string;
  /** The configuration file that was read, if any. */
  configPath?: string;
}

/**
 * Which hub a client talks to and with which token, as every client of deb-orchestrator decides it: the
 * explicit values, then the environment (DEB_ORCHESTRATOR_HUB, DEB_ORCHESTRATOR_TOKEN), then the client
 * configuration file ('hub:', 'token:', 'token-file:').
 */
export async function resolveHubSettings(request: HubSettingsRequest = {}): Promise<HubSettings> {
  const env = request.env ?? process.env;
  const configured = await readClientConfig({ ...(request.configFile ? { file: request.configFile } : {}), env });
  const config = configured?.config;
  const url = request.hub ?? (env.DEB_ORCHESTRATOR_HUB || undefined) ?? config?.hub;
  let token = request.token ?? (request.tokenFile ? await readTokenFile(request.tokenFile, request.tokenFileOrigin) : undefined);
  token ??= (env.DEB_ORCHESTRATOR_TOKEN || undefined) ?? config?.token;
  if (token === undefined && config?.["token-file"]) token = await readTokenFile(config["token-file"], `token-file in ${configured!.path}`);
  return { ...(url ? { url } : {}), ...(token ? { token } : {}), ...(configured ? { configPath: configured.path } : {}) };
}
