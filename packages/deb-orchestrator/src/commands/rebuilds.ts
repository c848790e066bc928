import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit, table, when } from "../cli-support/render.js";

export const rebuildsCommand: CommandSpec = {
  name: "rebuilds",
  summary: "A tag's automatic rebuilds, or with --dry-run what a build landing in it would rebuild.",
  description:
    "With automatic rebuilds on (add-tag/edit-tag --auto-rebuild CAP), every build that lands in the tag is looked at once: the tag's own packages that build-depend on its binaries, then those that build-depend on theirs, are rebuilt from their unchanged source as binNMUs (VERSION+bN, with a changelog line saying why), level by level in dependency order, each level once the one before it has landed. A change that needs more rebuilds than the cap queues none. Without --dry-run this lists each landed build, what it caused and where each rebuild is; with --dry-run BUILD it lists what BUILD (id or NAME/VERSION) would cause, queueing nothing.",
  args: [{ name: "tag", description: "tag name" }],
  options: [{ flags: "--dry-run <build>", description: "list what this build (id or NAME/VERSION) landing in the tag would rebuild" }],
  examples: ["deb-orchestrator rebuilds demo", "deb-orchestrator rebuilds demo --dry-run chaindemo-lib/1.1"],
  async run(ctx) {
    const tag = ctx.args[0] ?? "";
    const o = ctx.options as { dryRun?: string };
    const client = await clientFor(ctx);
    if (o.dryRun !== undefined) {
      const plan = await client.planRebuilds(tag, o.dryRun);
      emit(ctx, plan, () => {
        const head = `${plan.trigger.name} ${plan.trigger.version} in ${plan.tag} would rebuild ${plan.rebuilds.length} package${plan.rebuilds.length === 1 ? "" : "s"}`;
        const cap =
          plan.cap === 0
            ? " (automatic rebuilds are off for this tag)"
            : plan.overCap
              ? ` (more than the cap of ${plan.cap}: none would be queued)`
              : "";
        if (plan.rebuilds.length === 0) return `${head}${cap}`;
        return `${head}${cap}\n${table(
          ["level", "source", "from", "to", "because"],
          plan.rebuilds.map((r) => [r.level, r.source, r.baseVersion, r.version, `${r.because.relation} (${r.because.source})`]),
        )}`;
      });
      return 0;
    }
    const list = await client.listRebuilds(tag);
    emit(ctx, list, () => {
      const head = `tag ${list.tag}: automatic rebuilds ${list.cap ? `on, at most ${list.cap} per change` : "off"}`;
      const blocks = list.triggers.map((t) => {
        const line = `${when(t.at)}  ${t.name} ${t.version} (build ${t.build}) landed: ${t.outcome}`;
        if (t.rebuilds.length === 0) return line;
        return `${line}\n${table(
          ["level", "source", "version", "state", "task", "build", "reason"],
          t.rebuilds.map((r) => [r.level, r.source, r.version, r.state, r.task, r.build, r.reason]),
        )
          .split("\n")
          .map((l) => `  ${l}`)
          .join("\n")}`;
      });
      return [head, ...blocks].join("\n");
    });
    return 0;
  },
};
