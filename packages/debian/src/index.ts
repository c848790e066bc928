export * from "./apt-sources.js";
export * from "./checksums.js";
export * from "./deb-file.js";
export * from "./deb822.js";
export * from "./decompress.js";
export * from "./errors.js";
export * from "./signed-message.js";
export * from "./tar-reader.js";
