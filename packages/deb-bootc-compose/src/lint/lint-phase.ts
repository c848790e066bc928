import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { moduleDirHash } from "../code-hash.js";
import type { Phase } from "../compose/phase-engine.js";
import { type OutputsRecord, recordOutputs, takeOverPrevious } from "../compose/previous-compose.js";
import { composeError } from "../errors.js";
import { rootTrees } from "../rootfs/rootfs-phase.js";
import { canonicalJson } from "../rootfs/tree-key.js";
import { type LintResult, lintImage } from "./image-lint.js";

/** work/<arch>/<variant>/lint.json: the results of a tree's checks and what they were made from. */
interface LintRecord extends OutputsRecord {
  results: LintResult[];
}

const lintFile = (variant: string, arch: string) => join("work", arch, variant, "lint.json");

/**
 * The key of a tree's check results: the very tree (the rootfs cache's tree ID, so only a tree taken from
 * the cache unchanged can match) and the checks' code.
 */
export async function lintKey(treeId: string): Promise<string> {
  const code = await moduleDirHash(dirname(fileURLToPath(import.meta.url)));
  return createHash("sha256").update(canonicalJson({ treeId, code })).digest("hex");
}

/**
 * The lint phase: every tree through the image checks; an error-severity failure fails the compose.
 * The results of the previous compose's checks of the same tree (same tree ID, same checks) are taken
 * over instead of walking the tree again.
 */
export const lintPhase: Phase = {
  name: "lint",
  async run(ctx) {
    const failures: string[] = [];
    const details = ctx.state.find("rootfs-details") ?? [];
    for (const tree of rootTrees(ctx)) {
      const treeId = details.find((d) => d.variant === tree.variant && d.arch === tree.arch)?.treeId;
      const key = treeId ? await lintKey(treeId) : undefined;
      const file = lintFile(tree.variant, tree.arch);
      const taken = key ? await takeOverPrevious<LintRecord>(ctx, file, key, []) : undefined;
      const results = taken?.record.results ?? (await lintImage(tree.path)).results;
      if (taken)
        ctx.emit({ phase: "lint", kind: "note", text: `${tree.variant}/${tree.arch}: results of ${taken.from} reused (same tree)` });
      else if (key) await recordOutputs<LintRecord>(ctx.composeDir, file, { key, results });
      for (const r of results)
        ctx.logger[r.ok ? "info" : r.severity === "error" ? "error" : "warn"]({ variant: tree.variant, arch: tree.arch, ...r }, r.check);
      const errors = results.filter((r) => !r.ok && r.severity === "error");
      if (errors.length > 0) failures.push(`${tree.variant}/${tree.arch}: ${errors.map((r) => r.check).join(", ")}`);
    }
    if (failures.length > 0) throw composeError("LINT_FAILED", `image checks failed: ${failures.join("; ")}`);
  },
};
