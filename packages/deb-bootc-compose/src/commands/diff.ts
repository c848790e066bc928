import type { CommandSpec } from "@debian-bootc/core";
import { diffPackages, formatPackageDiff, readPackagesMetadata } from "../metadata/package-diff.js";

export const diffCommand: CommandSpec = {
  name: "diff",
  summary: "Show the package changes between two composes",
  description:
    "Compare compose/metadata/packages.json of two compose directories, per variant and architecture: packages added, removed, " +
    "upgraded, downgraded, and changed without a new version.",
  args: [
    { name: "compose-a", description: "the older compose directory" },
    { name: "compose-b", description: "the newer compose directory" },
  ],
  examples: ["deb-bootc-compose diff /srv/composes/debian-bootc-minimal-13.0-20261126.0 /srv/composes/latest-debian-bootc-minimal"],
  async run(ctx) {
    const diff = diffPackages(await readPackagesMetadata(ctx.args[0]!), await readPackagesMetadata(ctx.args[1]!));
    if (ctx.json) ctx.out.json(diff);
    else ctx.out.line(formatPackageDiff(diff).trimEnd());
    return 0;
  },
};
