/**
 * deb-bootc-compose's library API: what the CLI's verbs do, as functions (definitions, a compose run with
 * its phases, state and events, the package diff, the OCI writer, lint, push and boot tests), and the
 * error catalogue. Everything else is internal to the package; import it from its module inside the
 * package only.
 */

export { type BootTestOptions, type BootTestResult, bootToMarker, type HttpUpdateOptions, httpUpdateTest } from "./boot/boot-test.js";
export type { BuildEvent, BuildRecord, BuildState } from "./build/build-phase.js";
export { type HubMode, OrchestratorConnection } from "./build/orchestrator-connection.js";
export { type ComposeEvent, type ComposeEventKind, type ComposeEventListener, ComposeEvents } from "./compose/compose-events.js";
export { ComposeState, type ComposeStateKey, type ComposeStateValues } from "./compose/compose-state.js";
// a compose run: the engine, its phases, the state they hand on and the event stream they report on
export {
  type ComposeResult,
  type ComposeRunOptions,
  type ComposeStatus,
  type ComposeStatusReport,
  checkPhaseNames,
  PHASES,
  type Phase,
  type PhaseContext,
  type PhaseName,
  type PhaseOutcome,
  type PhaseRecord,
  readComposeStatus,
  runCompose,
} from "./compose/phase-engine.js";
export { type ComposePhaseOptions, composePhases } from "./compose/registry.js";
// compose definitions
export {
  type ComposeDefinition,
  definitionSchema,
  type LoadedDefinition,
  loadDefinition,
  parseDefinition,
  type RepositoryDefinition,
  referencedFiles,
} from "./definition.js";
export { composeError, composeErrorCodes } from "./errors.js";
export { type LintReport, type LintResult, lintImage } from "./lint/image-lint.js";

// what a compose leaves: packages metadata and the diff between composes
export {
  diffPackages,
  formatPackageDiff,
  type PackageDiff,
  type PackageRecord,
  type PackagesMetadata,
  readPackagesMetadata,
} from "./metadata/package-diff.js";
// images: the OCI writer, lint, push and boot tests
export { type OciImageOptions, type OciImageResult, writeOciImage } from "./oci/image-writer.js";
export { layerGroups, type OciManifest, readOciImage } from "./oci/layout-reader.js";
export { writeOciArchive } from "./oci/oci-archive.js";
export { type PushedImage, pushImages } from "./oci/push.js";
export { readXattrs } from "./oci/rootfs-scan.js";
export type { PackageSideEvent } from "./pkgset/pkgset-phase.js";
export { MARKER_OS_PREFIX } from "./rootfs/customize.js";
export { DPKG_SYSIMAGE_DIR } from "./rootfs/ostree-layout.js";
// the CLI
export { tool } from "./tool.js";
