import { describe, expect, it } from "vitest";
import { biosBootCode } from "./bios-boot.js";

/** A boot.img stand-in: distinct bytes everywhere, so every byte that moves or stays can be checked. */
const bootImg = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7 + 3) & 0xff));
const coreImg = Buffer.alloc(3 * 512 + 100, 0xab);

describe("biosBootCode", () => {
  it("points boot.img at core.img and core.img's blocklist at the rest of itself", () => {
    const { mbrCode, core } = biosBootCode(bootImg, coreImg, { firstSector: 2048, size: 1024 * 1024 });
    // only the code area: the disk signature and partition table (0x1b8 on) stay sgdisk's
    expect(mbrCode.length).toBe(0x1b8);
    expect(mbrCode.readBigUInt64LE(0x5c)).toBe(2048n);
    expect([mbrCode[0x66], mbrCode[0x67]]).toEqual([0x90, 0x90]);
    expect(mbrCode.subarray(0, 0x5c)).toEqual(bootImg.subarray(0, 0x5c));
    expect(mbrCode.subarray(0x68)).toEqual(bootImg.subarray(0x68, 0x1b8));
    // whole sectors; the first blocklist entry reads sectors 2049.. (3 more) to segment 0x820
    expect(core.length).toBe(4 * 512);
    expect(core.readBigUInt64LE(500)).toBe(2049n);
    expect(core.readUInt16LE(508)).toBe(3);
    expect(core.readUInt16LE(510)).toBe(0x820);
    expect(core.subarray(512, coreImg.length)).toEqual(coreImg.subarray(512));
    expect(core.subarray(coreImg.length).every((b) => b === 0)).toBe(true);
  });

  it("refuses a core.img larger than the BIOS boot partition and a boot.img of the wrong size", () => {
    expect(() => biosBootCode(bootImg, coreImg, { firstSector: 34, size: 1024 })).toThrow(/does not fit the BIOS boot partition/);
    expect(() => biosBootCode(bootImg.subarray(0, 440), coreImg, { firstSector: 34, size: 1024 * 1024 })).toThrow(/boot\.img is 440 bytes/);
  });
});
