export * from "./commit.js";
export * from "./ostree-phase.js";
export * from "./runroot.js";
