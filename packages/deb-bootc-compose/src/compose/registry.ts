import { createTestPhase, type TestPhaseOptions } from "../boot/test-phase.js";
import { type BuildPhaseOptions, createBuildPhase } from "../build/build-phase.js";
import { createImageBuildPhase } from "../disk/image-build-phase.js";
import { createGatherPhase } from "../gather/gather-phase.js";
import { createMetadataPhase, type MetadataOptions } from "../metadata/metadata-phase.js";
import { ostreePhase } from "../ostree/ostree-phase.js";
import { createPkgsetPhase, type PackageSideOptions } from "../pkgset/pkgset-phase.js";
import { createPublishPhase } from "../publish/publish-phase.js";
import { createRootfsPhase, type RootfsPhaseOptions } from "../rootfs/rootfs-phase.js";
import { createSnapshotPhase } from "../snapshot/snapshot-phase.js";
import type { Phase } from "./phase-engine.js";
import { lintPhase, ociPhase } from "./phases.js";

export interface ComposePhaseOptions
  extends PackageSideOptions,
    MetadataOptions,
    TestPhaseOptions,
    Pick<RootfsPhaseOptions, "rootfsCache" | "rootfsCacheKeep">,
    Omit<BuildPhaseOptions, "baseDir" | "orchestrator" | "mirror"> {}

/**
 * The phases of a compose after init, for runCompose(); the engine orders them by PHASES and records
 * a phase missing here as skipped.
 */
export function composePhases(options: ComposePhaseOptions): Phase[] {
  return [
    createBuildPhase(options),
    createPkgsetPhase(options),
    createGatherPhase(options),
    createSnapshotPhase(),
    createRootfsPhase(options),
    ostreePhase,
    ociPhase,
    lintPhase,
    createImageBuildPhase(),
    createTestPhase(options),
    createMetadataPhase(options),
    createPublishPhase(options),
  ];
}
