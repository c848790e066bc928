export * from "./apt-sources.js";
export * from "./chroot.js";
export * from "./customize.js";
export * from "./ostree-layout.js";
export * from "./rootfs.js";
export * from "./rootfs-cache.js";
export * from "./rootfs-phase.js";
export * from "./tree-key.js";
