// Test support (not shipped): builds small .debs byte by byte, including hostile ones dpkg-deb refuses to make.
import { gzipSync } from "node:zlib";

export interface TarSpec {
  name: string;
  /** Tar type flag: "0" file, "1" hard link, "2" symlink, "5" directory, "L" GNU long name, "x" pax... */
  type?: string;
  data?: Buffer | string;
  linkname?: string;
  mode?: number;
  /** Override the size field (to lie about the data). */
  size?: number;
}

function octal(value: number, length: number): string {
  return `${value.toString(8).padStart(length - 1, "0")}\0`;
}

export function tarHeader(spec: TarSpec): Buffer {
  const block = Buffer.alloc(512);
  const data = spec.data === undefined ? Buffer.alloc(0) : Buffer.from(spec.data);
  block.write(spec.name.slice(0, 100), 0, "utf8");
  block.write(octal(spec.mode ?? 0o644, 8), 100, "latin1");
  block.write(octal(0, 8), 108, "latin1");
  block.write(octal(0, 8), 116, "latin1");
  block.write(octal(spec.size ?? data.length, 12), 124, "latin1");
  block.write(octal(1700000000, 12), 136, "latin1");
  block.write(spec.type ?? "0", 156, "latin1");
  if (spec.linkname !== undefined) block.write(spec.linkname.slice(0, 100), 157, "utf8");
  block.write("ustar\0" + "00", 257, "latin1");
  block.write("root", 265, "latin1");
  block.write("root", 297, "latin1");
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return block;
}

export function tar(entries: TarSpec[], end = true): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    parts.push(tarHeader(e), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  if (end) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function ar(members: Array<[string, Buffer]>): Buffer {
  const parts: Buffer[] = [Buffer.from("!<arch>\n", "latin1")];
  for (const [name, data] of members) {
    const header =
      name.padEnd(16) + "0".padEnd(12) + "0".padEnd(6) + "0".padEnd(6) + "100644".padEnd(8) + String(data.length).padEnd(10) + "`\n";
    parts.push(Buffer.from(header, "latin1"), data);
    if (data.length % 2) parts.push(Buffer.from("\n"));
  }
  return Buffer.concat(parts);
}

export const DEMO_CONTROL = "Package: demo\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Demo <demo@example.org>\nDescription: demo\n";

/** A .deb with gzip members built from the given data.tar entries (and control text). */
export function makeDeb(dataEntries: TarSpec[], control = DEMO_CONTROL): Buffer {
  const controlTar = tar([
    { name: "./", type: "5", mode: 0o755 },
    { name: "./control", data: control },
  ]);
  return ar([
    ["debian-binary", Buffer.from("2.0\n")],
    ["control.tar.gz", gzipSync(controlTar)],
    ["data.tar.gz", gzipSync(tar(dataEntries))],
  ]);
}
