export type { BuildArchRequest, BuildRequest, ExtraRepo, ResultFile, TaskResult } from "./api/tasks.js";
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
export {
  type ClientConfig,
  clientConfigPaths,
  clientConfigSchema,
  type HubSettings,
  type HubSettingsRequest,
  readClientConfig,
  readTokenFile,
  resolveHubSettings,
} from "./client/client-config.js";
export { HubClient, type HubClientOptions } from "./client/hub-client.js";
export {
  describeTaskState,
  HubEvents,
  readTaskLog,
  TERMINAL_TASK_STATES,
  type WatchTaskOptions,
  watchTask,
} from "./client/task-watch.js";
export { type DialectName, type HubDatabase, migrate, openDatabase } from "./db/database.js";
export { type OrchestratorErrorCode, orchestratorError, orchestratorErrorCodes } from "./errors.js";
export type { BuildSource, BuildView } from "./hub/catalog/builds.js";
export type { TagView } from "./hub/catalog/tags.js";
export { type HubOptions, openApiDocument, type RunningHub, startHub } from "./hub/hub.js";
export type { TaskDetail, TaskView, WhyAnswer } from "./hub/queries.js";
export { hubOpenApiDocument } from "./hub/server.js";
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
