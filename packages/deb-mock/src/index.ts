/**
 * deb-mock's library API: the orchestrator's builder and the compose tool call these.
 *
 * - `init(options)`: create or refresh a profile's cached base and package index.
 * - `build(options)`: build a .dsc, a source tree or PACKAGE[=VERSION] in a fresh snapshot; writes the
 *   result directory and resolves with result.json's content for every outcome, failures included.
 * - `runInEnvironment(options)`: a runroot; commands in a fresh snapshot with packages, binds and a
 *   network policy.
 * All take `signal` (AbortSignal), `onEvent` (progress events) and `logger`.
 *
 * The rootless sandbox those run on, for other tools that run commands in a tree of their own (see
 * docs/deb-mock.md, "Isolation"):
 * - `runSandboxed(spec, options)`: a command in a user namespace mapped to the caller's subordinate id
 *   range, over an overlay or a plain directory tree owned by that range, with bubblewrap's namespaces,
 *   a minimal /dev, read-only /sys, a small capability set and the seccomp filter;
 * - `idRange()`: the caller's range (for root, added to /etc/subuid and /etc/subgid when missing);
 * - `userNamespacePrefix(range)`: the `unshare` argv that runs a trusted program (mmdebstrap, for one)
 *   as the range's root, without the rest of the sandbox;
 * - `giveToRange`, `makeRangeDirs`, `copyIntoRange`, `removeRangeTree`, `shiftTree`, `makeReachable`:
 *   host-side file operations on range-owned trees.
 */
export { type AptUnmetRelation, describeAptUnmet } from "./apt-unmet.js";
export { type BuildOptions, type BuildOutcome, build } from "./build.js";
export { type CacheStatus, cacheStatus, cleanSnapshots, type ScrubTarget, scrub } from "./cache-admin.js";
export { CacheLayout } from "./cache-layout.js";
export { type CommonOptions, Environment, type ProfileSelection, type RunInSnapshotOptions, resolveProfile } from "./environment.js";
export { debMockError, debMockErrorCodes } from "./errors.js";
export type { PhaseRecord, ProgressEvent, ProgressListener } from "./events.js";
export { callerIdRange, ensureIdRange, type IdBlock, type IdRange, idRange, RANGE_SIZE } from "./id-range.js";
export { type InitOptions, type InitResult, init } from "./init.js";
export { type Profile, type ProfileLayer, parseDuration, profileLayerSchema, profileSchema } from "./profile-schema.js";
export {
  DEFAULT_PROFILE,
  defaultConfigDirs,
  type LoadedProfile,
  listProfiles,
  loadProfile,
  type ProfileSummary,
  parseConfigOpts,
  resolveMirror,
  shippedProfileDir,
} from "./profiles.js";
export {
  copyIntoRange,
  giveToRange,
  makeRangeDirs,
  makeReachable,
  type RangeOwner,
  removeRangeTree,
  shiftTree,
} from "./range-fs.js";
export {
  ARTIFACT_KINDS,
  type ArtifactKind,
  artifactKind,
  type BuildResult,
  type BuildStatus,
  buildResultJsonSchema,
  buildResultSchema,
  type InstalledPackage,
} from "./result.js";
export { type RunInEnvironmentOptions, type RunInEnvironmentResult, runInEnvironment } from "./run-in-environment.js";
export {
  type BindMount,
  ROOT_CAPABILITIES,
  runSandboxed,
  runSandboxedInteractive,
  SANDBOX_PATH,
  type SandboxRoot,
  type SandboxRunOptions,
  type SandboxSpec,
  userNamespacePrefix,
} from "./sandbox.js";
export { DENIED_SYSCALLS, FILTERED_SYSCALLS, seccompProgram } from "./seccomp-filter.js";
export type { BuildType } from "./source-input.js";
export { tool } from "./tool.js";
