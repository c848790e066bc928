export * from "./blob-store.js";
export * from "./dpkg-ownership.js";
export * from "./image-writer.js";
export * from "./layer-plan.js";
export * from "./layout-reader.js";
export * from "./oci-archive.js";
export * from "./rootfs-scan.js";
export * from "./tar-writer.js";
