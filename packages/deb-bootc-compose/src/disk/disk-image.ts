import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, open, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isCodedError, type Logger, pathExists, run } from "@debian-bootc/core";
import { hashFileWith } from "@debian-bootc/debian";
import type { BootloaderSettings } from "../definition.js";
import { composeError } from "../errors.js";
import { runrootCommands } from "../ostree/runroot.js";
import { imageIds, rangeWritableDirectory } from "../rootfs/chroot.js";
import { ImageRoot } from "../rootfs/image-root.js";
import { biosBootCode } from "./bios-boot.js";
import { GRUB_EFI_MODULES, GRUB_PC_MODULES, grubConfig, grubEarlyConfig, parseBootEntry } from "./boot-entries.js";
import { diskPartitions, type Partition, SECTOR, sgdiskArgs } from "./gpt-layout.js";

/**
 * A bootable disk image from an OSTree commit, doing what `bootc install to-disk` does with Debian's
 * tools and no loop devices or mounts: the root filesystem's content is assembled in a directory by the
 * suite's own ostree in a runroot (admin init-fs, os-init, pull-local, the origin's ref, deploy with the kernel
 * arguments and root=UUID), the deployment gets /etc/fstab, GRUB gets a configuration made from
 * ostree's boot entries, then mkfs.ext4 -d makes the root filesystem from that directory and it is
 * copied into the root partition of the image file. UEFI boots through the EFI system partition (FAT,
 * filled with mtools): with Secure Boot (the default) it holds the image's own Microsoft-signed shim and
 * Debian-signed GRUB with the small configuration that GRUB reads from EFI/debian/grub.cfg; otherwise a
 * GRUB made here by grub-mkimage. Legacy BIOS boots GRUB for i386-pc from the MBR and a BIOS boot
 * partition. On first boot systemd-repart grows the root partition to the end of the disk and
 * systemd-growfs the filesystem. The runroot is deb-mock's rootless sandbox: the sysroot is owned by the
 * caller's subordinate range on disk, so the host writes into it through ImageRoot with that shift and
 * mkfs.ext4 runs in a runroot too, where the files show their in-image owners.
 */

// $1 source repo, $2 sysroot, $3 os name, $4 ref in the source repo, $5 origin (remote:ref), then --karg=... options.
// The origin names the update channel; its remote is the image's own /etc/ostree/remotes.d entry (with
// gpg-verify and the channel's key), so the sysroot repository gets no remote of its own.
const DEPLOY_SCRIPT = `
repo=$1; sysroot=$2; osname=$3; ref=$4; origin=$5; shift 5
ostree admin init-fs --modern "$sysroot"
ostree admin os-init --sysroot="$sysroot" "$osname"
commit=$(ostree rev-parse --repo="$repo" "$ref")
ostree pull-local --repo="$sysroot/ostree/repo" "$repo" "$commit" >&2
ostree refs --repo="$sysroot/ostree/repo" --create="$origin" "$commit" >&2
ostree config --repo="$sysroot/ostree/repo" set sysroot.bootloader none
ostree config --repo="$sysroot/ostree/repo" set sysroot.bootprefix true
ostree admin deploy --sysroot="$sysroot" --os="$osname" "$@" "$origin" >&2
ostree config --repo="$sysroot/ostree/repo" set sysroot.bootloader grub2
ostree admin status --sysroot="$sysroot"
`;

// A GRUB image from the deployed image's own modules. $1 sysroot, $2 os name, $3 platform, $4 output, then modules.
const MKIMAGE_SCRIPT = `
sysroot=$1; osname=$2; platform=$3; output=$4; shift 4
for deployment in "$sysroot/ostree/deploy/$osname/deploy/"*.0; do :; done
modules="$deployment/usr/lib/grub/$platform"
[ -d "$modules" ] || { echo "the image has no GRUB modules for $platform ($modules)" >&2; exit 1; }
grub-mkimage -O "$platform" -d "$modules" -o "$output" -p /boot/grub -c "$(dirname "$output")/early-$platform.cfg" "$@"
if [ -f "$modules/boot.img" ]; then cp "$modules/boot.img" "$(dirname "$output")/boot.img"; fi
`;

/** Where the deployment keeps the signed boot chain (shim-signed, shim-helpers-*-signed, grub-efi-*-signed). */
export const SIGNED_EFI_FILES = [
  { from: "usr/lib/shim/shimx64.efi.signed", to: "EFI/BOOT/BOOTX64.EFI", package: "shim-signed" },
  { from: "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed", to: "EFI/BOOT/grubx64.efi", package: "grub-efi-amd64-signed" },
  // MokManager: shim starts it when a MOK change is pending (mokutil --import)
  { from: "usr/lib/shim/mmx64.efi.signed", to: "EFI/BOOT/mmx64.efi", package: "shim-helpers-amd64-signed" },
] as const;
/** Debian's signed GRUB is built with prefix /EFI/debian: its configuration lives there on the ESP. */
export const SIGNED_GRUB_CONFIG = "EFI/debian/grub.cfg";

/** systemd-repart's definition: the root partition (matched by its type) takes the free space after it. */
export const REPART_ROOT = `# Written by deb-bootc-compose: on first boot the root partition grows to the end of the disk the
# image was written to; x-systemd.growfs in /etc/fstab then grows the filesystem.
[Partition]
Type=root
`;

export interface DiskImageOptions {
  /** The compose's archive repository and the ref to deploy. */
  repo: string;
  ref: string;
  /** The stateroot (os) name. */
  osName: string;
  /**
   * The deployment's origin, so `ostree admin upgrade` knows where updates come from: the update channel's
   * remote (configured in the image) and ref.
   */
  origin: { remote: string; ref: string };
  kargs: readonly string[];
  /** How the image boots; default: Secure Boot, UEFI and BIOS (the definition's defaults). */
  boot?: Pick<BootloaderSettings, "secureBoot" | "firmware">;
  /** Bytes. */
  size: number;
  /** Working directory (the sysroot is assembled here and removed afterwards). */
  workDir: string;
  /** Output files: a raw image and/or a qcow2 image. */
  raw?: string;
  qcow2?: string;
  profile?: string;
  logger?: Logger;
  signal?: AbortSignal;
  onOutput?: (chunk: Buffer) => void;
}

export interface DiskImageFile {
  path: string;
  format: "raw" | "qcow2";
  size: number;
  sha256: string;
}

export interface DiskImageResult {
  files: DiskImageFile[];
  rootUuid: string;
  partitions: Partition[];
  deployment: string;
  durations: Record<string, number>;
}

/** Deployment directories are immutable (chattr +i): clear the flag so the sysroot can be removed. */
async function removeSysroot(sysroot: string, logger?: Logger): Promise<void> {
  const deployRoot = join(sysroot, "ostree", "deploy");
  for (const os of await readdir(deployRoot).catch(() => [] as string[])) {
    for (const d of await readdir(join(deployRoot, os, "deploy")).catch(() => [] as string[])) {
      const path = join(deployRoot, os, "deploy", d);
      if ((await lstat(path)).isDirectory()) await run("chattr", ["-i", path], { logger, debianPackage: "e2fsprogs" }).catch(() => {});
    }
  }
  await rm(sysroot, { recursive: true, force: true });
}

/** Copy a file into another at a byte offset, skipping all-zero blocks (the target is sparse already). */
async function copyInto(source: string, target: string, offset: number): Promise<void> {
  const out = await open(target, "r+");
  try {
    let position = offset;
    const zero = Buffer.alloc(1024 * 1024);
    for await (const chunk of createReadStream(source, { highWaterMark: 1024 * 1024 })) {
      const buf = chunk as Buffer;
      if (!(buf.length === zero.length && buf.equals(zero))) await out.write(buf, 0, buf.length, position);
      position += buf.length;
    }
  } finally {
    await out.close();
  }
}

/** A FAT image of `size` bytes holding `files` (ESP paths, directories made as needed), filled with mtools. */
async function fatImage(
  img: string,
  size: number,
  files: ReadonlyArray<{ source: string; to: string }>,
  options: { logger?: Logger; signal?: AbortSignal },
): Promise<void> {
  const { logger, signal } = options;
  await rm(img, { force: true });
  await run("mkfs.vfat", ["-C", "-n", "ESP", img, String(size / 1024)], { logger, signal, debianPackage: "dosfstools" });
  const env = { ...process.env, MTOOLS_SKIP_CHECK: "1" };
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.to.split("/").slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  const sorted = [...dirs].sort((a, b) => a.split("/").length - b.split("/").length || a.localeCompare(b));
  if (sorted.length > 0) await run("mmd", ["-i", img, ...sorted.map((d) => `::/${d}`)], { env, logger, signal, debianPackage: "mtools" });
  for (const f of files) await run("mcopy", ["-i", img, f.source, `::/${f.to}`], { env, logger, signal, debianPackage: "mtools" });
}

export async function buildDiskImage(options: DiskImageOptions): Promise<DiskImageResult> {
  const { logger, signal } = options;
  const durations: Record<string, number> = {};
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await fn();
    } catch (error) {
      if (isCodedError(error, "INTERRUPTED") || isCodedError(error, "DISK_IMAGE_FAILED")) throw error;
      throw composeError("DISK_IMAGE_FAILED", `disk image step ${name} failed: ${(error as Error).message}`, { cause: error });
    } finally {
      durations[name] = Date.now() - started;
      logger?.info({ step: name, durationMs: durations[name] }, `disk step ${name}`);
    }
  };
  if (!options.raw && !options.qcow2) throw composeError("DISK_IMAGE_FAILED", "no output asked for (raw or qcow2)");
  const sysroot = join(options.workDir, "sysroot");
  const efiDir = join(options.workDir, "efi");
  const fsDir = join(options.workDir, "rootfs-image");
  const rawPath = options.raw ?? join(options.workDir, "disk.raw");
  const rootUuid = randomUUID();
  const boot = options.boot ?? { secureBoot: true, firmware: "hybrid" };
  const partitions = diskPartitions(options.size, boot.firmware);
  const esp = partitions.find((p) => p.name === "ESP");
  const biosBoot = partitions.find((p) => p.name === "BIOS");
  const root = partitions.find((p) => p.name === "root")!;
  await removeSysroot(sysroot, logger);
  await rm(efiDir, { recursive: true, force: true });
  const ids = await imageIds();
  await rangeWritableDirectory(sysroot);
  await rangeWritableDirectory(efiDir);
  try {
    const grubImages: string[][] = [];
    const mkimage = (platform: string, output: string, modules: readonly string[]) =>
      grubImages.push(["/bin/sh", "-euc", MKIMAGE_SCRIPT, "mkimage", "/sysroot", options.osName, platform, output, ...modules]);
    if (esp && !boot.secureBoot) {
      await writeFile(join(efiDir, "early-x86_64-efi.cfg"), grubEarlyConfig(rootUuid));
      mkimage("x86_64-efi", "/efi/BOOTX64.EFI", GRUB_EFI_MODULES);
    }
    if (biosBoot) {
      await writeFile(join(efiDir, "early-i386-pc.cfg"), grubEarlyConfig(rootUuid, { serial: true }));
      mkimage("i386-pc", "/efi/core.img", GRUB_PC_MODULES);
    }
    const status = await step("deploy", async () => {
      const kargs = [`root=UUID=${rootUuid}`, ...options.kargs].map((k) => `--karg=${k}`);
      const outputs = await runrootCommands(
        [
          [
            "/bin/sh",
            "-euc",
            DEPLOY_SCRIPT,
            "deploy",
            "/repo",
            "/sysroot",
            options.osName,
            options.ref,
            `${options.origin.remote}:${options.origin.ref}`,
            ...kargs,
          ],
          ...grubImages,
        ],
        {
          profile: options.profile,
          packages: grubImages.length > 0 ? ["ostree", "grub-common"] : ["ostree"],
          binds: [
            { source: options.repo, target: "/repo", readOnly: true },
            { source: sysroot, target: "/sysroot" },
            { source: efiDir, target: "/efi" },
          ],
          logger,
          signal,
          onOutput: options.onOutput,
        },
      );
      return outputs[0] ?? "";
    });
    logger?.info({ status }, "deployed");
    const deployment = await step("configure", async () => {
      const deployDir = join(sysroot, "ostree", "deploy", options.osName, "deploy");
      const deployments = (await readdir(deployDir)).filter((d) => /^[0-9a-f]{64}\.\d+$/.test(d));
      if (deployments.length !== 1)
        throw composeError("DISK_IMAGE_FAILED", `expected one deployment in ${deployDir}, found ${deployments.length}`);
      const deployment = join(deployDir, deployments[0]!);
      // the deployment is the image's tree: its etc/fstab (or etc) may be a symlink the image ships
      const deploymentTree = new ImageRoot(deployment, { ids });
      await deploymentTree.writeFile(
        "etc/fstab",
        `# Written by deb-bootc-compose at install time.\nUUID=${rootUuid} / ext4 defaults,x-systemd.growfs 0 1\n`,
        { mode: 0o644 },
      );
      await deploymentTree.writeFile("etc/repart.d/50-root.conf", REPART_ROOT, { mode: 0o644 });
      const entriesDir = join(sysroot, "boot", "loader", "entries");
      const entries = [];
      for (const file of (await readdir(entriesDir)).filter((f) => f.endsWith(".conf")).sort()) {
        entries.push(parseBootEntry(file, await readFile(join(entriesDir, file), "utf8")));
      }
      if (entries.length === 0) throw composeError("DISK_IMAGE_FAILED", `ostree wrote no boot entries in ${entriesDir}`);
      // /boot/loader is ostree's symlink to loader.N: the configuration lives beside the entries it was made from
      const sysrootTree = new ImageRoot(sysroot, { ids });
      await sysrootTree.writeFile("boot/loader/grub.cfg", grubConfig(entries));
      await sysrootTree.symlink("../loader/grub.cfg", "boot/grub/grub.cfg");
      return deployment;
    });
    if (esp) {
      await step("esp", async () => {
        const files: Array<{ source: string; to: string }> = [];
        if (boot.secureBoot) {
          // the files come from the image: a symlink there must not make the compose copy a host file
          const deploymentTree = new ImageRoot(deployment, { ids });
          for (const f of SIGNED_EFI_FILES) {
            const source = await deploymentTree.hostPath(f.from);
            if (!(await pathExists(source)))
              throw composeError(
                "DISK_IMAGE_FAILED",
                `the image has no /${f.from}: Secure Boot needs ${f.package} in the image's packages`,
                {
                  hint: "the image's package set comes from bootPackages(); or set bootloader.secureBoot: false for an unsigned GRUB",
                },
              );
            files.push({ source, to: f.to });
          }
          await writeFile(join(efiDir, "grub.cfg"), grubEarlyConfig(rootUuid));
          files.push({ source: join(efiDir, "grub.cfg"), to: SIGNED_GRUB_CONFIG });
        } else {
          files.push({ source: join(efiDir, "BOOTX64.EFI"), to: "EFI/BOOT/BOOTX64.EFI" });
        }
        await fatImage(join(options.workDir, "esp.img"), esp.size, files, { logger, signal });
      });
    }
    await step("partition", async () => {
      await rm(rawPath, { force: true });
      await writeFile(rawPath, "");
      await truncate(rawPath, options.size);
      await run("sgdisk", sgdiskArgs(partitions, rawPath), { logger, signal, debianPackage: "gdisk" });
    });
    await step("root-filesystem", async () => {
      // in a runroot, where the range-owned sysroot shows the image's owners (root is 0)
      await rm(fsDir, { recursive: true, force: true });
      await rangeWritableDirectory(fsDir);
      const fsOptions = ["-q", "-F", "-L", "root", "-U", rootUuid, "-O", "^orphan_file,^metadata_csum_seed"];
      await runrootCommands([["mkfs.ext4", ...fsOptions, "-d", "/sysroot", "/out/root.img", `${root.size / 1024}k`]], {
        profile: options.profile,
        packages: ["e2fsprogs"],
        binds: [
          { source: sysroot, target: "/sysroot", readOnly: true },
          { source: fsDir, target: "/out" },
        ],
        logger,
        signal,
        onOutput: options.onOutput,
      });
      await copyInto(join(fsDir, "root.img"), rawPath, root.offset);
      if (esp) await copyInto(join(options.workDir, "esp.img"), rawPath, esp.offset);
    });
    if (biosBoot) {
      await step("bios-boot", async () => {
        const code = biosBootCode(await readFile(join(efiDir, "boot.img")), await readFile(join(efiDir, "core.img")), biosBoot);
        const out = await open(rawPath, "r+");
        try {
          await out.write(code.mbrCode, 0, code.mbrCode.length, 0);
          await out.write(code.core, 0, code.core.length, biosBoot.offset);
        } finally {
          await out.close();
        }
      });
    }
    const files: DiskImageFile[] = [];
    if (options.qcow2) {
      await step("qcow2", () =>
        run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", rawPath, options.qcow2!], { logger, signal, debianPackage: "qemu-utils" }),
      );
    }
    await step("checksums", async () => {
      for (const [path, format] of [
        [options.raw, "raw"],
        [options.qcow2, "qcow2"],
      ] as const) {
        if (path) files.push({ path, format, size: (await stat(path)).size, sha256: (await hashFileWith(path, ["sha256"])).sha256 });
      }
    });
    return { files, rootUuid, partitions, deployment, durations };
  } finally {
    await removeSysroot(sysroot, logger);
    await rm(join(options.workDir, "esp.img"), { force: true });
    await rm(fsDir, { recursive: true, force: true });
    if (!options.raw && (await pathExists(rawPath))) await rm(rawPath, { force: true });
  }
}

/** Sector of a byte offset, for logs. */
export const sectorOf = (offset: number) => offset / SECTOR;
