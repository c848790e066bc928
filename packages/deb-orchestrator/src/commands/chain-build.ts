import type { CommandSpec } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { table } from "../cli-support/render.js";
import { sourceFiles } from "../cli-support/source-files.js";
import { type ChainResult, chainBuild } from "../client/chain-build.js";

/** What the summary adds to a build's state when this batch did not build it. */
const NOTES: Partial<Record<ChainResult["entries"][number]["outcome"], string>> = {
  "already-built": " (built before)",
  followed: " (followed another submission)",
};

export const chainBuildCommand: CommandSpec = {
  name: "chain-build",
  summary: "Build several source packages for a target in the order their build-dependencies need.",
  description:
    "Orders the sources by their Build-Depends (-Arch, -Indep) on each other's binaries (alternatives, architecture qualifiers and build profiles read as dpkg and apt do), then builds them level by level: the sources of one level in parallel, each level once the one before it is tagged and its repository regenerated. Stops at the first level with a failed build. A cycle is reported before anything is uploaded. A source already built (same name and version, complete) is not built again; one the hub is building already (another submission) is followed to its end, and the summary says so. Ends with one summary; exit 1 when a build failed.",
  args: [
    { name: "target", description: "build target (see list-targets)" },
    { name: "sources", description: ".dsc files or unpacked source directories, in any order", variadic: true },
  ],
  options: [
    {
      flags: "--arch <arch>",
      description: "only this architecture's build-dependencies order the sources (default: every architecture of the build tag)",
    },
    { flags: "--priority <n>", description: "lower runs first (default 20)" },
  ],
  examples: ["deb-orchestrator chain-build trixie chaindemo-app_1.0.dsc chaindemo-lib_1.0.dsc chaindemo-mid_1.0.dsc"],
  async run(ctx) {
    const [target, ...inputs] = ctx.args as [string, ...string[]];
    const o = ctx.options as { arch?: string; priority?: string };
    const client = await clientFor(ctx, { needToken: true });
    const sources = [];
    for (const input of inputs) sources.push(await sourceFiles(input));
    const result = await chainBuild(client, target, sources, {
      ...(o.arch ? { arch: o.arch } : {}),
      ...(o.priority ? { priority: Number(o.priority) } : {}),
      signal: ctx.signal,
      ...(ctx.json ? {} : { onProgress: (line: string) => ctx.out.line(line) }),
    });
    if (ctx.json) ctx.out.json(result);
    else {
      ctx.out.line(
        table(
          ["level", "source", "version", "build", "state", "task"],
          result.entries.map((e) => [
            e.level,
            e.source,
            e.version,
            e.build,
            e.outcome === "not-submitted" ? "not submitted" : `${e.state}${NOTES[e.outcome] ?? ""}`,
            e.task,
          ]),
        ),
      );
      if (result.failedLevel !== undefined) {
        const failed = result.entries.filter((e) => e.outcome === "failed" || e.outcome === "canceled");
        const skipped = result.entries.filter((e) => e.outcome === "not-submitted").map((e) => e.source);
        ctx.out.error(
          `level ${result.failedLevel} failed: ${failed.map((e) => `${e.source} ${e.version} (task ${e.task}): ${e.reason ?? e.outcome}`).join("; ")}${skipped.length ? `; not submitted: ${skipped.join(", ")}` : ""}`,
        );
      }
    }
    return result.ok ? 0 : 1;
  },
};
