import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { delimiter, join, resolve } from "node:path";
import type { BuilderCapability } from "../api/tasks.js";
import { orchestratorError } from "../errors.js";

/** What a compose's image phases run on the host (the rest runs in deb-mock runroots); QEMU boots the disk image to its marker. */
export const imageTools = ["mmdebstrap", "skopeo", "qemu-img", "sgdisk", "mkfs.vfat", "qemu-system-x86_64"] as const;

export interface HostFacts {
  uid: number;
  /** The PATH the tools are looked up in. */
  path: string;
}

export function currentHost(): HostFacts {
  return { uid: process.getuid?.() ?? -1, path: process.env.PATH ?? "" };
}

const executable = (file: string) =>
  access(file, constants.X_OK).then(
    () => true,
    () => false,
  );

/**
 * The program a builder runs as `compose-command`, resolved as exec does: a name without a slash is
 * looked up on PATH, a path is taken as it is; undefined when there is no such executable.
 */
export async function resolveCommand(program: string, path: string): Promise<string | undefined> {
  if (program.includes("/")) return (await executable(program)) ? resolve(program) : undefined;
  for (const dir of path.split(delimiter).filter(Boolean)) if (await executable(join(dir, program))) return join(dir, program);
  return undefined;
}

/**
 * Refuse to declare a capability this host cannot honour, before checking in: `image` needs root (the
 * rootfs, OSTree and disk steps), the image tools and the compose command, or every image task it
 * claims would fail.
 */
export async function checkCapabilities(
  capabilities: readonly BuilderCapability[],
  composeCommand: string,
  host: HostFacts = currentHost(),
): Promise<void> {
  if (!capabilities.includes("image")) return;
  if (host.uid !== 0)
    throw orchestratorError("BUILDER_CAPABILITY_MISSING", "the image capability needs a builder running as root", {
      hint: "run the builder as root, or leave out --capability image",
    });
  const missing: string[] = [];
  for (const tool of imageTools) if (!(await resolveCommand(tool, host.path))) missing.push(tool);
  if (missing.length)
    throw orchestratorError("BUILDER_CAPABILITY_MISSING", `the image capability needs ${missing.join(", ")}, not found on PATH`, {
      hint: "apt-get install mmdebstrap skopeo qemu-utils gdisk dosfstools qemu-system-x86 ovmf",
      details: { missing },
    });
  if (!(await resolveCommand(composeCommand, host.path)))
    throw orchestratorError("BUILDER_CAPABILITY_MISSING", `the image capability needs '${composeCommand}', not found or not executable`, {
      hint: "install deb-bootc-compose, or name its program with --compose-command",
      details: { missing: [composeCommand] },
    });
}
