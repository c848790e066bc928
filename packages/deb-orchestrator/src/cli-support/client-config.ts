import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { type CommandContext, loadYamlFile } from "@debian-bootc/core";
import { z } from "zod";
import { HubClient } from "../client/hub-client.js";
import { orchestratorError } from "../errors.js";

/** ~/.config/deb-orchestrator/client.yaml (then /etc/deb-orchestrator/client.yaml). */
export const clientConfigSchema = z
  .object({
    hub: z.url().describe("The hub's base URL, e.g. http://hub.example:8470"),
    token: z.string().min(10).optional().describe("API token (prefer token-file)"),
    "token-file": z.string().optional().describe("File holding the API token"),
  })
  .strict();

export type ClientConfig = z.output<typeof clientConfigSchema>;

export function clientConfigPaths(): string[] {
  const xdg = process.env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return [join(xdg, "deb-orchestrator", "client.yaml"), "/etc/deb-orchestrator/client.yaml"];
}

async function readConfig(explicit: string | undefined): Promise<ClientConfig | undefined> {
  if (explicit) return loadYamlFile(explicit, clientConfigSchema);
  for (const path of clientConfigPaths()) {
    try {
      await readFile(path);
    } catch {
      continue;
    }
    return loadYamlFile(path, clientConfigSchema);
  }
  return undefined;
}

export async function readTokenFile(path: string): Promise<string> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (error) {
    throw orchestratorError("CLIENT_CONFIG", `cannot read the token file ${path}: ${(error as Error).message}`);
  }
}

/** The hub client for a command: flags, then environment, then the config file. */
export async function clientFor(ctx: CommandContext, options: { needToken?: boolean } = {}): Promise<HubClient> {
  const o = ctx.options as { hub?: string; token?: string; tokenFile?: string; config?: string };
  const config = await readConfig(o.config);
  const url = o.hub ?? config?.hub;
  if (!url)
    throw orchestratorError("CLIENT_CONFIG", "no hub URL", {
      hint: `give --hub URL, set DEB_ORCHESTRATOR_HUB or write 'hub:' in ${clientConfigPaths()[0]}`,
    });
  let token = o.token ?? (o.tokenFile ? await readTokenFile(o.tokenFile) : undefined);
  token ??= config?.token ?? (config?.["token-file"] ? await readTokenFile(config["token-file"]) : undefined);
  if (options.needToken && !token)
    throw orchestratorError("CLIENT_CONFIG", "this command needs an API token", {
      hint: "give --token-file FILE, set DEB_ORCHESTRATOR_TOKEN or write 'token-file:' in the client config",
    });
  return new HubClient({ url, ...(token ? { token } : {}) });
}
