import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit, table } from "../cli-support/render.js";

export const listWebhooksCommand: CommandSpec = {
  name: "list-webhooks",
  summary: "List webhooks: URL, event kinds, the last event delivered, failures.",
  async run(ctx) {
    const hooks = await (await clientFor(ctx, { needToken: true })).listWebhooks();
    emit(ctx, hooks, () =>
      table(
        ["id", "url", "kinds", "delivered up to", "failures", "last error"],
        hooks.map((h) => [h.id, h.url, h.kinds.join(",") || "all", h.cursor, h.failures, h.lastError]),
      ),
    );
    return 0;
  },
};
