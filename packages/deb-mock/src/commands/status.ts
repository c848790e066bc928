import type { CommandSpec } from "@debian-bootc/core";
import { cacheStatus } from "../cache-admin.js";
import { commonOptions, formatAge, formatBytes } from "./common.js";

export const statusCommand: CommandSpec = {
  name: "status",
  summary: "Show the cache: bases with their ages and sizes, package index ages, the APT archive, snapshots.",
  async run(ctx) {
    const status = await cacheStatus(commonOptions(ctx));
    if (ctx.json) {
      ctx.out.json(status);
      return 0;
    }
    ctx.out.line(`cache ${status.cacheRoot}: ${formatBytes(status.totalBytes)}`);
    ctx.out.line("bases:");
    if (status.bases.length === 0) ctx.out.line("  (none; run 'deb-mock init')");
    for (const b of status.bases) {
      ctx.out.line(
        `  ${b.key}  age ${formatAge(b.ageSeconds)}  index age ${formatAge(b.indexAgeSeconds)}  ${b.buildDepsLayers} build-dependency layers  ${formatBytes(b.sizeBytes)}`,
      );
    }
    ctx.out.line(`apt archive: ${status.aptArchive.packages} packages, ${formatBytes(status.aptArchive.sizeBytes)}`);
    ctx.out.line("snapshots:");
    if (status.snapshots.length === 0) ctx.out.line("  (none)");
    for (const s of status.snapshots) {
      const state = s.alive ? `in use by pid ${s.pid}` : s.keep ? "kept" : "stale";
      ctx.out.line(`  ${s.id}  ${s.purpose ?? "?"}  ${state}`);
    }
    return 0;
  },
};
