export * from "./errors.js";
export * from "./oci/index.js";
export { tool } from "./tool.js";
