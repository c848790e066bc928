import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

export const enableHostCommand: CommandSpec = {
  name: "enable-host",
  summary: "Enable a builder host (it gets tasks again).",
  args: [{ name: "host", description: "host name" }],
  async run(ctx) {
    const host = ctx.args[0] ?? "";
    await (await clientFor(ctx, { needToken: true })).setHostEnabled(host, true);
    emit(ctx, { host, enabled: true }, () => `host ${host} enabled`);
    return 0;
  },
};
