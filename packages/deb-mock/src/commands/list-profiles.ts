import type { CommandSpec } from "@debian-bootc/core";
import { listProfiles } from "../profiles.js";

export const listProfilesCommand: CommandSpec = {
  name: "list-profiles",
  summary: "List the profiles of the shipped, /etc/deb-mock and user configuration.",
  async run(ctx) {
    const profiles = await listProfiles();
    if (ctx.json) ctx.out.json(profiles);
    else {
      const width = Math.max(...profiles.map((p) => p.name.length));
      for (const p of profiles) ctx.out.line(`${p.name.padEnd(width)}  ${p.description}`);
    }
    return 0;
  },
};
