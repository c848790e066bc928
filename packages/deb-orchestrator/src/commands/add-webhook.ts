import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";
import { readTokenFile } from "../client/client-config.js";

export const addWebhookCommand: CommandSpec = {
  name: "add-webhook",
  summary: "Send events to a URL: in order, signed (HMAC-SHA256 of a shared secret), retried until accepted.",
  description:
    "Every event from now on whose kind matches (--kind task. --kind build.state; none: all) is POSTed as JSON to URL, one at a time in event order, with the header x-deb-orchestrator-signature: sha256=HMAC(secret, body). A receiver that does not answer 2xx gets the same event again with exponential backoff (up to 5 minutes) before any later one.",
  args: [{ name: "url", description: "http(s) URL of the receiver" }],
  options: [
    { flags: "--secret-file <file>", description: "file holding the shared secret (at least 16 characters)" },
    { flags: "--kind <kind>", description: "an event kind or prefix ending in '.', e.g. task. or build.state", repeatable: true },
  ],
  examples: ["deb-orchestrator add-webhook https://ci.example/hooks/debian --secret-file hook.secret --kind task. --kind build."],
  async run(ctx) {
    const o = ctx.options as { secretFile?: string; kind: string[] };
    const secret = o.secretFile ? await readTokenFile(o.secretFile) : "";
    const { id } = await (await clientFor(ctx, { needToken: true })).post<{ id: number }>("/api/v1/webhooks", {
      url: ctx.args[0],
      secret,
      kinds: o.kind,
    });
    emit(ctx, { id }, () => `webhook ${id} added`);
    return 0;
  },
};
