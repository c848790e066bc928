import { join } from "node:path";
import type { Phase } from "../compose/phase-engine.js";
import { ROOTFS_STATE, type RootfsTree } from "../compose/phases.js";
import { installPlan } from "./apt-sources.js";
import { buildRootfs, rootfsPath } from "./rootfs.js";
import { openTextLog } from "./text-log.js";

export interface RootfsPhaseOptions {
  /** The definition's directory (files' src and postprocess scripts are relative to it). */
  baseDir: string;
  /** Mirror for `type: debian` repositories without one when no snapshot exists (default: the host's). */
  mirror?: string;
}

/** Kernel version and step timings per tree, beside ROOTFS_STATE. */
export const ROOTFS_DETAILS_STATE = "rootfs-details";
export interface RootfsDetails extends RootfsTree {
  kver: string;
  durations: Record<string, number>;
  from: "snapshot" | "repositories";
}

/**
 * The rootfs phase: one tree per variant and arch under work/<arch>/<variant>/rootfs, installed from
 * the APT snapshot (or the definition's repositories when the package phases were skipped), customised
 * and laid out for ostree; mmdebstrap's and dracut's output go to logs/rootfs-<variant>-<arch>.log.
 */
export function createRootfsPhase(options: RootfsPhaseOptions): Phase {
  return {
    name: "rootfs",
    async run(ctx) {
      const trees: RootfsTree[] = [];
      const details: RootfsDetails[] = [];
      for (const arch of ctx.definition.arches) {
        for (const variant of Object.keys(ctx.definition.variants)) {
          const plan = await installPlan(ctx, variant, arch, options.baseDir, options.mirror);
          const path = rootfsPath(ctx.composeDir, variant, arch);
          const log = await openTextLog(join(ctx.composeDir, "logs", `rootfs-${variant}-${arch}.log`));
          const logger = ctx.logger.child({ variant, arch });
          try {
            const result = await buildRootfs({
              definition: ctx.definition,
              baseDir: options.baseDir,
              variant,
              arch,
              plan,
              path,
              logger,
              signal: ctx.signal,
              onOutput: (chunk) => log.write(chunk),
            });
            trees.push({ variant, arch, path });
            details.push({ variant, arch, path, kver: result.kver, durations: result.durations, from: plan.from });
            logger.info({ path, kver: result.kver, durations: result.durations }, "root tree ready");
          } finally {
            await log.close();
          }
        }
      }
      ctx.state.set(ROOTFS_STATE, trees);
      ctx.state.set(ROOTFS_DETAILS_STATE, details);
    },
  };
}
