export * from "./apt-sources.js";
export * from "./deb822.js";
export * from "./errors.js";
export * from "./signed-message.js";
