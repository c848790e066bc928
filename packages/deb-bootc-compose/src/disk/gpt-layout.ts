import { composeError } from "../errors.js";

/**
 * Partition arithmetic for the disk images, as data: 512-byte sectors, partitions aligned to 1 MiB,
 * the backup GPT's 33 sectors left free at the end. BigInt-free: sizes stay far below 2^53.
 */

export const SECTOR = 512;
const ALIGN = 2048; // sectors: 1 MiB
const GPT_BACKUP_SECTORS = 33;

export interface PartitionSpec {
  name: string;
  /** sgdisk type code (ef00 ESP, ef02 BIOS boot, 8304 Linux root x86-64, ea00 XBOOTLDR, 8300 Linux). */
  type: string;
  /** Size in bytes; undefined: the rest of the disk (only the last partition). */
  size?: number;
}

export interface Partition extends PartitionSpec {
  number: number;
  firstSector: number;
  lastSector: number;
  offset: number;
  size: number;
}

export function parseSize(text: string): number {
  const m = /^(\d+)([KMGT]?)$/.exec(text.trim());
  if (!m) throw composeError("DISK_IMAGE_FAILED", `bad size ${JSON.stringify(text)}: expected a number with K, M, G or T`);
  const unit = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2] as "" | "K" | "M" | "G" | "T"];
  return Number(m[1]) * unit;
}

export function layoutPartitions(diskSize: number, specs: readonly PartitionSpec[]): Partition[] {
  if (diskSize % SECTOR !== 0) throw composeError("DISK_IMAGE_FAILED", `disk size ${diskSize} is not a multiple of ${SECTOR}`);
  const totalSectors = diskSize / SECTOR;
  const lastUsable = totalSectors - GPT_BACKUP_SECTORS - 1;
  const parts: Partition[] = [];
  let next = ALIGN;
  specs.forEach((spec, i) => {
    const isLast = i === specs.length - 1;
    if (spec.size === undefined && !isLast)
      throw composeError("DISK_IMAGE_FAILED", `partition ${spec.name}: only the last partition may take the rest`);
    const sectors =
      spec.size === undefined ? Math.floor((lastUsable + 1 - next) / ALIGN) * ALIGN : Math.ceil(spec.size / SECTOR / ALIGN) * ALIGN;
    const lastSector = next + sectors - 1;
    if (sectors <= 0 || lastSector > lastUsable) {
      throw composeError("DISK_IMAGE_FAILED", `disk size ${diskSize} bytes is too small for partition ${spec.name}`, {
        hint: "raise disk.size in the definition",
      });
    }
    parts.push({ ...spec, number: i + 1, firstSector: next, lastSector, offset: next * SECTOR, size: sectors * SECTOR });
    next = lastSector + 1;
  });
  return parts;
}

export const ESP_SIZE = 128 * 1024 * 1024;
/** GRUB's core.img for i386-pc (about 100 KiB with the modules it embeds) lives in this partition. */
export const BIOS_BOOT_SIZE = 1024 * 1024;

/**
 * The partitions of a disk image: a BIOS boot partition for legacy BIOS (GRUB's core.img; first, so it
 * sits within reach of any BIOS), an EFI system partition for UEFI, and the root filesystem last, so
 * that it can grow into the rest of whatever disk the image is written to.
 */
export function diskPartitions(diskSize: number, firmware: "uefi" | "bios" | "hybrid"): Partition[] {
  const specs: PartitionSpec[] = [];
  if (firmware !== "uefi") specs.push({ name: "BIOS", type: "ef02", size: BIOS_BOOT_SIZE });
  if (firmware !== "bios") specs.push({ name: "ESP", type: "ef00", size: ESP_SIZE });
  specs.push({ name: "root", type: "8304" });
  return layoutPartitions(diskSize, specs);
}

/** sgdisk arguments that create exactly this table on an empty image. */
export function sgdiskArgs(parts: readonly Partition[], image: string, diskGuid?: string): string[] {
  const args = ["--clear"];
  if (diskGuid) args.push(`--disk-guid=${diskGuid}`);
  for (const p of parts) {
    args.push(
      `--new=${p.number}:${p.firstSector}:${p.lastSector}`,
      `--typecode=${p.number}:${p.type}`,
      `--change-name=${p.number}:${p.name}`,
    );
  }
  args.push(image);
  return args;
}
