export * from "./boot-entries.js";
export * from "./disk-image.js";
export * from "./gpt-layout.js";
export * from "./image-build-phase.js";
