import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";
import { readTokenFile } from "../client/client-config.js";

export const addWebhookCommand: CommandSpec = {
  name: "add-webhook",
  summary: "Send events to a URL: in order, signed (HMAC-SHA256 of a shared secret), retried until accepted.",
  description:
    "Every event from now on whose kind matches (--kind task. --kind build.state; none: all) is POSTed as JSON to URL, one at a time in event order, with the header x-deb-orchestrator-signature: sha256=HMAC(secret, body). A receiver that does not answer 2xx gets the same event again with exponential backoff (up to 5 minutes) before any later one. Redirects are never followed; loopback, link-local and the hub's own addresses are refused (when the webhook is added and on every delivery) unless --allow-local is given.",
  args: [{ name: "url", description: "http(s) URL of the receiver" }],
  options: [
    { flags: "--secret-file <file>", description: "file holding the shared secret (at least 16 characters)" },
    { flags: "--kind <kind>", description: "an event kind or prefix ending in '.', e.g. task. or build.state", repeatable: true },
    {
      flags: "--allow-local",
      description: "allow a loopback, link-local or the hub's own address as target (refused otherwise)",
      default: false,
    },
  ],
  examples: ["deb-orchestrator add-webhook https://ci.example/hooks/debian --secret-file hook.secret --kind task. --kind build."],
  async run(ctx) {
    const o = ctx.options as { secretFile?: string; kind: string[]; allowLocal: boolean };
    const secret = o.secretFile ? await readTokenFile(o.secretFile) : "";
    const { id } = await (await clientFor(ctx, { needToken: true })).createWebhook({
      url: ctx.args[0] ?? "",
      secret,
      kinds: o.kind,
      ...(o.allowLocal ? { allowLocal: true } : {}),
    });
    emit(ctx, { id }, () => `webhook ${id} added`);
    return 0;
  },
};
