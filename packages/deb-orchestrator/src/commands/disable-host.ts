import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

export const disableHostCommand: CommandSpec = {
  name: "disable-host",
  summary: "Disable a builder host (it gets no new tasks; running ones finish).",
  args: [{ name: "host", description: "host name" }],
  async run(ctx) {
    const host = ctx.args[0] ?? "";
    await (await clientFor(ctx, { needToken: true })).setHostEnabled(host, false);
    emit(ctx, { host, enabled: false }, () => `host ${host} disabled`);
    return 0;
  },
};
