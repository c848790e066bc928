import type { Phase } from "../compose/phase-engine.js";
import { composeError } from "../errors.js";
import { rootTrees } from "../rootfs/rootfs-phase.js";
import { lintImage } from "./image-lint.js";

/** The lint phase: every tree through the image checks; an error-severity failure fails the compose. */
export const lintPhase: Phase = {
  name: "lint",
  async run(ctx) {
    const failures: string[] = [];
    for (const tree of rootTrees(ctx)) {
      const report = await lintImage(tree.path);
      for (const r of report.results)
        ctx.logger[r.ok ? "info" : r.severity === "error" ? "error" : "warn"]({ variant: tree.variant, arch: tree.arch, ...r }, r.check);
      if (report.errors > 0)
        failures.push(
          `${tree.variant}/${tree.arch}: ${report.results
            .filter((r) => !r.ok && r.severity === "error")
            .map((r) => r.check)
            .join(", ")}`,
        );
    }
    if (failures.length > 0) throw composeError("LINT_FAILED", `image checks failed: ${failures.join("; ")}`);
  },
};
