export * from "./atomic-write.js";
export * from "./cli.js";
export * from "./config.js";
export * from "./errors.js";
export * from "./file-lock.js";
export * from "./logger.js";
export * from "./path-exists.js";
export * from "./run.js";
