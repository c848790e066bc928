export * from "./build-phase.js";
export { ensureTarget } from "./hub-api.js";
export * from "./orchestrator-connection.js";
export { type IdentifiedSource, identifySources, materializeSource, type SourceSpec } from "./source-prep.js";
