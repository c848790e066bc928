import type { CommandSpec } from "@debian-bootc/core";
import { type Permission, permissions } from "../api/operation.js";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

export const addUserCommand: CommandSpec = {
  name: "add-user",
  summary: "Create a user (admin only); give it permissions with --perm or 'grant'.",
  args: [{ name: "name", description: "user name" }],
  options: [{ flags: "--perm <perm>", description: "a permission to grant", repeatable: true, choices: [...permissions] }],
  async run(ctx) {
    const name = ctx.args[0] ?? "";
    const perms = (ctx.options as { perm: Permission[] }).perm;
    await (await clientFor(ctx, { needToken: true })).createUser(name, perms);
    emit(ctx, { name, perms }, () => `created user ${name}${perms.length ? ` with ${perms.join(", ")}` : ""}`);
    return 0;
  },
};
