import type { CommandSpec } from "@debian-bootc/core";
import { readComposeStatus } from "../compose/phase-engine.js";

export const statusCommand: CommandSpec = {
  name: "status",
  summary: "Show a compose's status and its phases' outcomes and timings",
  args: [{ name: "dir", description: "a compose directory (or a latest-<name> link)" }],
  examples: ["deb-bootc-compose status /srv/composes/latest-debian-bootc-minimal"],
  async run(ctx) {
    const report = await readComposeStatus(ctx.args[0]!);
    if (ctx.json) {
      ctx.out.json(report);
      return 0;
    }
    ctx.out.line(`${report.composeId}: ${report.status}`);
    for (const phase of report.phases) {
      const time = phase.durationMs === undefined ? "" : ` ${(phase.durationMs / 1000).toFixed(1)} s`;
      ctx.out.line(`  ${phase.name.padEnd(14)} ${phase.outcome}${time}${phase.error ? `: ${phase.error.message.split("\n")[0]}` : ""}`);
    }
    return 0;
  },
};
