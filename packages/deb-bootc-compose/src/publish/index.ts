export * from "./publish.js";
export * from "./publish-phase.js";
export * from "./published-metadata.js";
export * from "./signing-key.js";
