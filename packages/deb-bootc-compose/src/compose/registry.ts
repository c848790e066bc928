import { createTestPhase, type TestPhaseOptions } from "../boot/test-phase.js";
import { type BuildPhaseOptions, createBuildPhase } from "../build/build-phase.js";
import { createImageBuildPhase } from "../disk/image-build-phase.js";
import { createGatherPhase } from "../gather/gather-phase.js";
import { lintPhase } from "../lint/lint-phase.js";
import { createMetadataPhase, type MetadataOptions } from "../metadata/metadata-phase.js";
import { ociPhase } from "../oci/oci-phase.js";
import { ostreePhase } from "../ostree/ostree-phase.js";
import { createPkgsetPhase, type PackageSideOptions } from "../pkgset/pkgset-phase.js";
import { createPublishPhase } from "../publish/publish-phase.js";
import { createRootfsPhase, type RootfsPhaseOptions } from "../rootfs/rootfs-phase.js";
import { createSnapshotPhase } from "../snapshot/snapshot-phase.js";
import type { Phase } from "./phase-engine.js";

export interface ComposePhaseOptions
  extends PackageSideOptions,
    MetadataOptions,
    TestPhaseOptions,
    Pick<RootfsPhaseOptions, "rootfsCache" | "rootfsCacheKeep">,
    Omit<BuildPhaseOptions, "baseDir" | "orchestrator" | "mirror"> {}

/** Every phase of a compose after init, for runCompose(), which runs them in the order of PHASES. */
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
