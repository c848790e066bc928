import { join } from "node:path";
import { imageReference } from "../definition.js";
import { composeError } from "../errors.js";
import { lintImage } from "../lint/image-lint.js";
import { writeOciImage } from "../oci/image-writer.js";
import { writeOciArchive } from "../oci/oci-archive.js";
import { readXattrs } from "../oci/rootfs-scan.js";
import type { Phase, PhaseContext } from "./phase-engine.js";

/** What the rootfs phase leaves in the run's state: one tree per variant and arch. */
export interface RootfsTree {
  variant: string;
  arch: string;
  path: string;
}

export const ROOTFS_STATE = "rootfs";

function trees(ctx: PhaseContext): RootfsTree[] {
  const value = ctx.state.get(ROOTFS_STATE) as RootfsTree[] | undefined;
  if (!value || value.length === 0)
    throw composeError("COMPOSE_PHASE_FAILED", "no root trees: the rootfs phase did not run in this compose");
  return value;
}

/** The oci phase: each tree as an OCI image layout (and .ociarchive when wanted) under compose/<variant>/<arch>/. */
export const ociPhase: Phase = {
  name: "oci",
  async run(ctx) {
    const { definition } = ctx;
    if (!definition.outputs.includes("oci")) return;
    const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? 0) || 0;
    const ref = imageReference(definition);
    for (const tree of trees(ctx)) {
      const layout = join(ctx.composeDir, "compose", tree.variant, tree.arch, "oci");
      const result = await writeOciImage({
        rootfs: tree.path,
        layout,
        tag: ref.tag,
        arch: tree.arch,
        sourceDateEpoch: epoch,
        version: definition.version,
        title: ref.name,
        labels: definition.image?.labels,
        annotations: definition.image?.annotations,
        maxLayers: definition.image?.maxLayers,
        compression: definition.image?.compression,
        xattrs: await readXattrs(tree.path, { logger: ctx.logger, signal: ctx.signal }),
        logger: ctx.logger,
        signal: ctx.signal,
      });
      ctx.logger.info(
        { variant: tree.variant, arch: tree.arch, manifest: result.manifest.digest, layers: result.layers.length },
        "image written",
      );
      if (definition.outputs.includes("ociarchive")) {
        await writeOciArchive(
          layout,
          join(ctx.composeDir, "compose", tree.variant, tree.arch, `${definition.name}-${tree.variant}.ociarchive`),
          epoch,
          ctx.signal,
        );
      }
    }
  },
};

/** The lint phase: every tree through the image checks; an error-severity failure fails the compose. */
export const lintPhase: Phase = {
  name: "lint",
  async run(ctx) {
    const failures: string[] = [];
    for (const tree of trees(ctx)) {
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
