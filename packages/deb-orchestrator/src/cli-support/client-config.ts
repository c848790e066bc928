import type { CommandContext } from "@debian-bootc/core";
import { clientConfigPaths, resolveHubSettings } from "../client/client-config.js";
import { HubClient } from "../client/hub-client.js";
import { orchestratorError } from "../errors.js";

/** The hub client for a command: flags, then environment, then the config file. */
export async function clientFor(ctx: CommandContext, options: { needToken?: boolean } = {}): Promise<HubClient> {
  const o = ctx.options as { hub?: string; token?: string; tokenFile?: string; config?: string };
  const { url, token } = await resolveHubSettings({
    ...(o.hub ? { hub: o.hub } : {}),
    ...(o.token ? { token: o.token } : {}),
    ...(o.tokenFile ? { tokenFile: o.tokenFile, tokenFileOrigin: "--token-file" } : {}),
    ...(o.config ? { configFile: o.config } : {}),
  });
  if (!url)
    throw orchestratorError("CLIENT_CONFIG", "no hub URL", {
      hint: `give --hub URL, set DEB_ORCHESTRATOR_HUB or write 'hub:' in ${clientConfigPaths()[0]}`,
    });
  if (options.needToken && !token)
    throw orchestratorError("CLIENT_CONFIG", "this command needs an API token", {
      hint: "give --token-file FILE, set DEB_ORCHESTRATOR_TOKEN or write 'token-file:' in the client config",
    });
  return new HubClient({ url, ...(token ? { token } : {}) });
}
