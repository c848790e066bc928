import { type CommandSpec, coreError, writeFileAtomic } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

export const tokenCommand: CommandSpec = {
  name: "token",
  summary: "'token create USER': make an API token (shown once; only its hash is stored).",
  args: [
    { name: "action", description: "create" },
    { name: "user", description: "user name" },
  ],
  options: [
    { flags: "--label <text>", description: "what the token is for" },
    { flags: "--output <file>", description: "write the token to this file (mode 0600) instead of printing it" },
  ],
  examples: ["deb-orchestrator token create builder-1 --output /etc/deb-orchestrator/builder.token"],
  async run(ctx) {
    const [action, user] = ctx.args as [string, string];
    if (action !== "create") throw coreError("USAGE", `unknown token action '${action}'; expected 'create'`);
    const o = ctx.options as { label?: string; output?: string };
    const { token, id } = await (await clientFor(ctx, { needToken: true })).post<{ token: string; id: number }>(
      `/api/v1/users/${encodeURIComponent(user)}/tokens`,
      { ...(o.label ? { label: o.label } : {}) },
    );
    if (o.output) {
      await writeFileAtomic(o.output, `${token}\n`, 0o600);
      emit(ctx, { id, file: o.output }, () => `token ${id} for ${user} written to ${o.output}`);
    } else emit(ctx, { id, token }, () => token);
    return 0;
  },
};
