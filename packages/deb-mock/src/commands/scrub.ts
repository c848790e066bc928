import { type CommandSpec, coreError } from "@debian-bootc/core";
import { type ScrubTarget, scrub } from "../cache-admin.js";
import { commonOptions } from "./common.js";

export const scrubCommand: CommandSpec = {
  name: "scrub",
  summary: "Remove cached data: all, bases, apt-cache or snapshots (what running builds use is kept).",
  args: [{ name: "what", description: "all | bases | apt-cache | snapshots" }],
  examples: ["deb-mock scrub snapshots", "deb-mock scrub all"],
  async run(ctx) {
    const what = ctx.args[0] as ScrubTarget;
    if (!["all", "bases", "apt-cache", "snapshots"].includes(what)) {
      throw coreError("USAGE", `scrub ${what}: expected one of all, bases, apt-cache, snapshots`);
    }
    const removed = await scrub(what, commonOptions(ctx));
    if (ctx.json) ctx.out.json({ removed });
    else ctx.out.line(removed.length ? `removed:\n${removed.map((r) => `  ${r}`).join("\n")}` : "nothing to remove");
    return 0;
  },
};
