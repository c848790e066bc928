/**
 * deb-orchestrator's client side: the hub's API contract (src/api) and the typed HubClient over it. It
 * pulls in no server: the hub, builders, runners and the local orchestrator are exported from
 * "@debian-bootc/deb-orchestrator/local".
 */
export type { CheckinAnswer, CheckinRequest, ClaimedTask, HostView } from "./api/builder-protocol.js";
export type { BuildSource, BuildState, BuildSummary, BuildView, DeleteBuildResult } from "./api/builds.js";
export type { HubEvent, WebhookView } from "./api/events.js";
export type { TokenView, UserView } from "./api/identity.js";
export { openApiDocument } from "./api/openapi.js";
export { type ErrorBody, type Operation, type Permission, permissions } from "./api/operation.js";
export { type HubOperations, hubOperations, type OperationId, type RouteEntry, routeTable } from "./api/routes.js";
export type { ExternalRepoView, TaggedBuild, TagSpec, TagView, TargetView } from "./api/tags.js";
export {
  type BuildArchRequest,
  type BuildRequest,
  type ComposeImageRequest,
  composeImageRequest,
  DISK_REPOSITORY_TAR,
  type DiskImageRequest,
  diskImageRequest,
  type ExtraRepo,
  type ResultFile,
  type TaskDetail,
  type TaskResult,
  type TaskState,
  type TaskView,
  taskStates,
  UPDATE_REPOSITORY_TAR,
  type UpdateTestRequest,
  updateTestRequest,
  type WhyAnswer,
} from "./api/tasks.js";
export {
  type BatchEntry,
  type BatchHooks,
  type BatchItem,
  type BatchResult,
  type BatchStart,
  runBatch,
  succeeded as batchEntrySucceeded,
} from "./client/batch-build.js";
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
export { type Answer, type CallOptions, HubClient, type HubClientOptions, type OperationInput } from "./client/hub-client.js";
export {
  describeTaskState,
  HubEvents,
  readTaskLog,
  TERMINAL_TASK_STATES,
  type WatchTaskOptions,
  watchTask,
} from "./client/task-watch.js";
export { type OrchestratorErrorCode, orchestratorError, orchestratorErrorCodes } from "./errors.js";
