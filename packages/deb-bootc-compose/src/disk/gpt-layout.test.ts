import { describe, expect, it } from "vitest";
import { diskPartitions, layoutPartitions, parseSize, sgdiskArgs } from "./gpt-layout.js";

describe("diskPartitions", () => {
  it("gives hybrid images a BIOS boot partition, an ESP and the root last, so the root can grow", () => {
    const gib = 1024 ** 3;
    const parts = diskPartitions(2 * gib, "hybrid");
    expect(parts.map((p) => [p.number, p.name, p.type, p.firstSector])).toEqual([
      [1, "BIOS", "ef02", 2048],
      [2, "ESP", "ef00", 4096],
      [3, "root", "8304", 266240],
    ]);
    // the root takes the rest up to the last whole MiB before the backup GPT
    expect(parts[2]!.size).toBe(2 * gib - 130 * 1024 ** 2 - 1024 ** 2);
    expect(diskPartitions(2 * gib, "uefi").map((p) => p.name)).toEqual(["ESP", "root"]);
    expect(diskPartitions(2 * gib, "bios").map((p) => p.name)).toEqual(["BIOS", "root"]);
  });
});

describe("layoutPartitions", () => {
  it("aligns to 1 MiB and leaves the backup GPT free at the end", () => {
    const parts = layoutPartitions(2 * 1024 ** 3, [
      { name: "ESP", type: "ef00", size: 128 * 1024 ** 2 },
      { name: "root", type: "8304" },
    ]);
    expect(parts.map((p) => [p.firstSector, p.lastSector, p.offset, p.size])).toEqual([
      [2048, 264191, 1048576, 134217728],
      [264192, 4192255, 135266304, 2011168768],
    ]);
    // the last usable sector of a 4194304-sector disk is 4194270; the root ends on a 1 MiB boundary before it
    expect(parts[1]!.lastSector).toBeLessThanOrEqual(4194304 - 34);
  });

  it("refuses a disk too small for its partitions, naming the field to raise", () => {
    expect(() =>
      layoutPartitions(64 * 1024 ** 2, [
        { name: "ESP", type: "ef00", size: 128 * 1024 ** 2 },
        { name: "root", type: "8304" },
      ]),
    ).toThrow(/too small for partition ESP/);
  });

  it("gives the rest of the disk only to the last partition", () => {
    expect(() =>
      layoutPartitions(1024 ** 3, [
        { name: "a", type: "8300" },
        { name: "b", type: "8300" },
      ]),
    ).toThrow(/only the last/);
  });
});

describe("sgdiskArgs and parseSize", () => {
  it("creates exactly the computed table", () => {
    const parts = layoutPartitions(parseSize("1G"), [
      { name: "ESP", type: "ef00", size: parseSize("64M") },
      { name: "root", type: "8304" },
    ]);
    expect(sgdiskArgs(parts, "/d.raw")).toEqual([
      "--clear",
      "--new=1:2048:133119",
      "--typecode=1:ef00",
      "--change-name=1:ESP",
      "--new=2:133120:2095103",
      "--typecode=2:8304",
      "--change-name=2:root",
      "/d.raw",
    ]);
  });

  it("reads K M G T sizes and rejects others", () => {
    expect(parseSize("4G")).toBe(4 * 1024 ** 3);
    expect(parseSize("512")).toBe(512);
    expect(() => parseSize("4 GB")).toThrow(/bad size/);
  });
});
