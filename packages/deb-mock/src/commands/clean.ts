import type { CommandSpec } from "@debian-bootc/core";
import { cleanSnapshots } from "../cache-admin.js";
import { commonOptions } from "./common.js";

export const cleanCommand: CommandSpec = {
  name: "clean",
  summary: "Remove the profile's snapshots (kept ones too) that no running deb-mock uses.",
  async run(ctx) {
    const removed = await cleanSnapshots(commonOptions(ctx));
    if (ctx.json) ctx.out.json({ removed });
    else
      ctx.out.line(
        removed.length ? `removed ${removed.length} snapshot(s):\n${removed.map((r) => `  ${r}`).join("\n")}` : "no snapshots to remove",
      );
    return 0;
  },
};
