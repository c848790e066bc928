import type { CommandSpec } from "@debian-bootc/core";
import { init } from "../init.js";
import { commonOptions, formatAge } from "./common.js";

export const initCommand: CommandSpec = {
  name: "init",
  summary: "Create or refresh the profile's cached base (mmdebstrap --variant=buildd) and package index.",
  description:
    "Create the profile's base with mmdebstrap (variant buildd plus the profile's basePackages) when it is missing or older than cache.baseMaxAge, and refresh the package index when older than cache.indexMaxAge. A refresh is atomic: builds keep using the old base until the new one is complete.",
  options: [
    { flags: "--force", description: "rebuild the base even when it is young enough", default: false },
    { flags: "--update", description: "refresh the package index (apt-get update) even when it is young enough", default: false },
  ],
  examples: ["deb-mock init", "deb-mock -r debian-sid-amd64 init --force"],
  async run(ctx) {
    const result = await init({ ...commonOptions(ctx), force: ctx.options.force === true, updateIndex: ctx.options.update === true });
    if (ctx.json) ctx.out.json(result);
    else {
      ctx.out.line(`profile ${result.profile}: base ${result.key}`);
      ctx.out.line(`  base  ${result.base.dir} (age ${formatAge(result.base.ageSeconds)})`);
      ctx.out.line(`  index ${result.index.dir} (age ${formatAge(result.index.ageSeconds)})`);
      const { uid, gid, count, added } = result.idRange;
      ctx.out.line(
        `  ids   environments run as uids ${uid}-${uid + count - 1} and gids ${gid}-${gid + count - 1} of this host${added ? " (range added to /etc/subuid and /etc/subgid for root just now)" : ""}`,
      );
    }
    return 0;
  },
};
