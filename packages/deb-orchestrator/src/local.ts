/**
 * What runs an orchestrator in this process: the local orchestrator (a hub and a builder, as
 * `deb-orchestrator up` runs them), the hub, builders with their runners (deb-mock's and the no-op one),
 * the repository publishers and the CLI. The client side is the package's main export.
 */
export {
  type BuildRunFile,
  type BuildRunner,
  type BuildRunRequest,
  type BuildRunResult,
  NoopBuildRunner,
  type NoopRunnerOptions,
} from "./builder/build-runner.js";
export { Builder, type BuilderEvent, type BuilderOptions } from "./builder/builder.js";
export { DebMockRunner, type DebMockRunnerOptions } from "./builder/deb-mock-runner.js";
export { ComposeCliImageRunner, type ComposeCliImageRunnerOptions, type ImageRunner } from "./builder/image-runner.js";
export { type DialectName, type HubDatabase, migrate, openDatabase } from "./db/database.js";
export { type HubOptions, type RunningHub, startHub } from "./hub/hub.js";
export {
  defaultLocalDataDir,
  type LocalOrchestrator,
  type LocalOrchestratorOptions,
  startLocalOrchestrator,
} from "./local-orchestrator.js";
export { DebianRepoPublisher, loadOrCreateSigningKey } from "./repo/debian-publisher.js";
export { ListingPublisher } from "./repo/listing-publisher.js";
export type { RepoPackageFile, RepoPublisher, RepoPublishRequest, RepoPublishResult } from "./repo/publisher.js";
export { tool } from "./tool.js";
