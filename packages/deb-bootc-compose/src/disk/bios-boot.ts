import { composeError } from "../errors.js";
import { SECTOR } from "./gpt-layout.js";

/**
 * Legacy BIOS boot from a GPT disk, installed by hand as grub-bios-setup would (no loop device, no
 * device map): GRUB's boot.img goes into the MBR's code area and learns where core.img starts; core.img
 * (from grub-mkimage -O i386-pc) fills the BIOS boot partition, and its first sector (diskboot.img)
 * learns where the rest of it lies. The protective MBR's disk signature and partition table that sgdisk
 * wrote stay as they are.
 */

/** boot.img: where core.img's first sector is (8 bytes, little-endian). */
const KERNEL_SECTOR_OFFSET = 0x5c;
/** boot.img: a jump over the boot-drive check; two NOPs make it trust the BIOS's drive (as for hard disks). */
const DRIVE_CHECK_OFFSET = 0x66;
/** From here on the MBR holds the disk signature and the partition table: never overwritten. */
const MBR_CODE_END = 0x1b8;
/** diskboot.img's first blocklist entry: start sector (8), sector count (2), load segment (2). */
const BLOCKLIST_OFFSET = SECTOR - 12;
/** core.img's second sector loads right after its first, at 0x8000 + 512 bytes. */
const CORE_LOAD_SEGMENT = 0x820;

export interface BiosBootCode {
  /** The MBR's first 440 bytes (the code before the disk signature). */
  mbrCode: Buffer;
  /** core.img with its blocklist set, to write at the BIOS boot partition's first sector. */
  core: Buffer;
}

export function biosBootCode(bootImg: Buffer, coreImg: Buffer, partition: { firstSector: number; size: number }): BiosBootCode {
  if (bootImg.length !== SECTOR) throw composeError("DISK_IMAGE_FAILED", `boot.img is ${bootImg.length} bytes, expected ${SECTOR}`);
  if (coreImg.length < 2 * SECTOR) throw composeError("DISK_IMAGE_FAILED", `core.img is only ${coreImg.length} bytes`);
  if (coreImg.length > partition.size) {
    throw composeError(
      "DISK_IMAGE_FAILED",
      `core.img (${coreImg.length} bytes) does not fit the BIOS boot partition (${partition.size} bytes)`,
    );
  }
  const sectors = Math.ceil(coreImg.length / SECTOR);
  if (sectors - 1 > 0xffff) throw composeError("DISK_IMAGE_FAILED", `core.img has ${sectors} sectors, more than one blocklist entry reads`);
  const mbrCode = Buffer.from(bootImg.subarray(0, MBR_CODE_END));
  mbrCode.writeBigUInt64LE(BigInt(partition.firstSector), KERNEL_SECTOR_OFFSET);
  mbrCode[DRIVE_CHECK_OFFSET] = 0x90;
  mbrCode[DRIVE_CHECK_OFFSET + 1] = 0x90;
  const core = Buffer.alloc(sectors * SECTOR);
  coreImg.copy(core);
  core.writeBigUInt64LE(BigInt(partition.firstSector + 1), BLOCKLIST_OFFSET);
  core.writeUInt16LE(sectors - 1, BLOCKLIST_OFFSET + 8);
  core.writeUInt16LE(CORE_LOAD_SEGMENT, BLOCKLIST_OFFSET + 10);
  return { mbrCode, core };
}
