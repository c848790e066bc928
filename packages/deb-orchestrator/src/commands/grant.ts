import type { CommandSpec } from "@debian-bootc/core";
import type { Permission } from "../api/operation.js";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

export const grantCommand: CommandSpec = {
  name: "grant",
  summary: "Grant a permission (admin, build, tag, repo, host) to a user; --revoke takes it away.",
  args: [
    { name: "user", description: "user name" },
    { name: "perm", description: "admin, build, tag, repo or host" },
  ],
  options: [{ flags: "--revoke", description: "remove the permission instead", default: false }],
  async run(ctx) {
    const [user, perm] = ctx.args as [string, string];
    const revoke = (ctx.options as { revoke: boolean }).revoke;
    // the hub names the permissions it knows when it refuses another
    await (await clientFor(ctx, { needToken: true })).grantPermission(user, perm as Permission, revoke);
    emit(ctx, { user, perm, revoked: revoke }, () => `${revoke ? "revoked" : "granted"} ${perm} ${revoke ? "from" : "to"} ${user}`);
    return 0;
  },
};
