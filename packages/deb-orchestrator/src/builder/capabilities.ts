import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { delimiter, join } from "node:path";
import type { BuilderCapability } from "../api/tasks.js";
import { orchestratorError } from "../errors.js";

/** What a compose's image phases run on the host (the rest runs in deb-mock runroots). */
export const imageTools = ["mmdebstrap", "skopeo", "qemu-img", "sgdisk", "mkfs.vfat"] as const;

export interface HostFacts {
  uid: number;
  /** The PATH the tools are looked up in. */
  path: string;
}

function currentHost(): HostFacts {
  return { uid: process.getuid?.() ?? -1, path: process.env.PATH ?? "" };
}

async function onPath(tool: string, path: string): Promise<boolean> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    if (
      await access(join(dir, tool), constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return true;
  }
  return false;
}

/**
 * Refuse to declare a capability this host cannot honour, before checking in: `image` needs root (the
 * rootfs, OSTree and disk steps) and the image tools, or every image task it claims would fail.
 */
export async function checkCapabilities(capabilities: readonly BuilderCapability[], host: HostFacts = currentHost()): Promise<void> {
  if (!capabilities.includes("image")) return;
  if (host.uid !== 0)
    throw orchestratorError("BUILDER_CAPABILITY_MISSING", "the image capability needs a builder running as root", {
      hint: "run the builder as root, or leave out --capability image",
    });
  const missing: string[] = [];
  for (const tool of imageTools) if (!(await onPath(tool, host.path))) missing.push(tool);
  if (missing.length)
    throw orchestratorError("BUILDER_CAPABILITY_MISSING", `the image capability needs ${missing.join(", ")}, not found on PATH`, {
      hint: "apt-get install mmdebstrap skopeo qemu-utils gdisk dosfstools",
      details: { missing },
    });
}
