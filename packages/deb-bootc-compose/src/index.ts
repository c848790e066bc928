export * from "./compose/compose-id.js";
export * from "./compose/phase-engine.js";
export * from "./compose/phases.js";
export * from "./definition.js";
export * from "./errors.js";
export * from "./lint/image-lint.js";
export * from "./oci/index.js";
export { tool } from "./tool.js";
