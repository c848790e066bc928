/**
 * deb-mock's library API: the orchestrator's builder and the compose tool call these.
 *
 * - `init(options)`: create or refresh a profile's cached base and package index.
 * - `build(options)`: build a .dsc, a source tree or PACKAGE[=VERSION] in a fresh snapshot; writes the
 *   result directory and resolves with result.json's content for every outcome, failures included.
 * - `runInEnvironment(options)`: a runroot; commands in a fresh snapshot with packages, binds and a
 *   network policy.
 * All take `signal` (AbortSignal), `onEvent` (progress events) and `logger`.
 */
export { type BuildOptions, type BuildOutcome, build } from "./build.js";
export { type CacheStatus, cacheStatus, cleanSnapshots, type ScrubTarget, scrub } from "./cache-admin.js";
export { CacheLayout } from "./cache-layout.js";
export { type CommonOptions, Environment, type ProfileSelection, type RunInSnapshotOptions, resolveProfile } from "./environment.js";
export { debMockError, debMockErrorCodes } from "./errors.js";
export type { PhaseRecord, ProgressEvent, ProgressListener } from "./events.js";
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
export { type BuildResult, type BuildStatus, buildResultJsonSchema, buildResultSchema } from "./result.js";
export { type RunInEnvironmentOptions, type RunInEnvironmentResult, runInEnvironment } from "./run-in-environment.js";
export type { BindMount } from "./sandbox.js";
export type { BuildType } from "./source-input.js";
export { tool } from "./tool.js";
