export * from "./boot-test.js";
export * from "./qemu.js";
export * from "./static-server.js";
export * from "./test-phase.js";
