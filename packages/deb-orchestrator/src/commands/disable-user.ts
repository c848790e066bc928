import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit } from "../cli-support/render.js";

function userSwitch(verb: "disable" | "enable"): CommandSpec {
  return {
    name: `${verb}-user`,
    summary:
      verb === "disable"
        ? "Disable a user (admin): its tokens are refused at once and its builders' tasks are freed."
        : "Enable a disabled user again (admin).",
    args: [{ name: "user", description: "user name" }],
    async run(ctx) {
      const user = ctx.args[0] ?? "";
      const answer = await (await clientFor(ctx, { needToken: true })).setUserDisabled(user, verb === "disable");
      emit(ctx, answer, () => `user ${user} ${verb}d${answer.freed.length ? `; tasks freed: ${answer.freed.join(", ")}` : ""}`);
      return 0;
    },
  };
}

export const disableUserCommand = userSwitch("disable");
export const enableUserCommand = userSwitch("enable");
