import { createGatherPhase } from "../gather/gather-phase.js";
import { createMetadataPhase, type MetadataOptions } from "../metadata/metadata-phase.js";
import { createPkgsetPhase, type PackageSideOptions } from "../pkgset/pkgset-phase.js";
import { createSnapshotPhase } from "../snapshot/snapshot-phase.js";
import type { Phase } from "./phase-engine.js";
import { lintPhase, ociPhase } from "./phases.js";

export interface ComposePhaseOptions extends PackageSideOptions, MetadataOptions {}

/**
 * The implemented phases of a compose, for runCompose(); the engine orders them by PHASES and records
 * a phase missing here as skipped. The image side (rootfs, ostree, image-build, test) adds its phases
 * to this list as they land.
 */
export function composePhases(options: ComposePhaseOptions): Phase[] {
  return [createPkgsetPhase(options), createGatherPhase(options), createSnapshotPhase(), ociPhase, lintPhase, createMetadataPhase(options)];
}
