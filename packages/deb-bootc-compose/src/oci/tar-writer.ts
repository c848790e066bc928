/**
 * A small, deterministic tar writer (POSIX ustar plus PAX extended headers). Everything that varies
 * between runs (uname, gname, atime, ctime) is left out; long names, large sizes, large ids and xattrs
 * go into a PAX header whose own fields are fixed.
 */

export type TarEntryType = "file" | "directory" | "symlink" | "hardlink" | "char" | "block" | "fifo";

export interface TarEntryHeader {
  /** Path inside the archive, without a leading "/" or "./"; directories without the trailing slash. */
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content that follow (regular files only). */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Symlink target, or the archive path of the hardlink's first occurrence. */
  linkTarget?: string;
  devMajor?: number;
  devMinor?: number;
  /** Extended attributes, written as SCHILY.xattr.NAME PAX records. */
  xattrs?: ReadonlyMap<string, Buffer>;
}

const BLOCK = 512;
const TYPE_FLAGS: Record<TarEntryType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  directory: "5",
  fifo: "6",
};
const MAX_OCTAL_11 = 0o77777777777; // 8 GiB - 1 in an 11-digit field
const MAX_OCTAL_7 = 0o7777777;

/** Zero bytes to pad `size` content bytes to a whole block. */
export function paddingFor(size: number): Buffer {
  const rest = size % BLOCK;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rest);
}

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);

function writeString(block: Buffer, offset: number, length: number, value: string): void {
  block.write(value, offset, length, "utf8");
}

function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  const digits = value.toString(8).padStart(length - 1, "0");
  block.write(`${digits}\0`, offset, length, "ascii");
}

function isAsciiPrintable(value: string): boolean {
  return /^[\x20-\x7e]*$/.test(value);
}

/** One PAX record: "<len> <key>=<value>\n" where len counts the whole record in bytes. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, "utf8"), value, Buffer.from("\n")]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length), "ascii"), body]);
}

/** Split a path into ustar's prefix (155 bytes) and name (100 bytes) when it fits, else undefined. */
function splitUstarPath(path: string): { prefix: string; name: string } | undefined {
  if (!isAsciiPrintable(path)) return undefined;
  if (path.length <= 100) return { prefix: "", name: path };
  for (let i = path.indexOf("/"); i !== -1; i = path.indexOf("/", i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (prefix.length <= 155 && name.length <= 100 && name.length > 0) return { prefix, name };
  }
  return undefined;
}

function headerBlock(fields: {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  devMajor: number;
  devMinor: number;
}): Buffer {
  const block = Buffer.alloc(BLOCK);
  writeString(block, 0, 100, fields.name);
  writeOctal(block, 100, 8, fields.mode);
  writeOctal(block, 108, 8, fields.uid);
  writeOctal(block, 116, 8, fields.gid);
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, fields.mtime);
  block.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  block.write(fields.typeflag, 156, 1, "ascii");
  writeString(block, 157, 100, fields.linkname);
  block.write("ustar\0", 257, 6, "ascii");
  block.write("00", 263, 2, "ascii");
  writeOctal(block, 329, 8, fields.devMajor);
  writeOctal(block, 337, 8, fields.devMinor);
  writeString(block, 345, 155, fields.prefix);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  return block;
}

/**
 * The header block(s) for one entry: a PAX extended header first when a field does not fit ustar,
 * then the ustar header. Content and padding are the caller's to write.
 */
export function encodeTarHeader(entry: TarEntryHeader): Buffer {
  const archivePath = entry.type === "directory" ? `${entry.path}/` : entry.path;
  const records: Buffer[] = [];
  const split = splitUstarPath(archivePath);
  if (split === undefined) records.push(paxRecord("path", Buffer.from(archivePath, "utf8")));
  const linkTarget = entry.linkTarget ?? "";
  const linkFits = isAsciiPrintable(linkTarget) && Buffer.byteLength(linkTarget) <= 100;
  if (!linkFits) records.push(paxRecord("linkpath", Buffer.from(linkTarget, "utf8")));
  const size = entry.type === "file" ? entry.size : 0;
  if (size > MAX_OCTAL_11) records.push(paxRecord("size", Buffer.from(String(size))));
  if (entry.uid > MAX_OCTAL_7) records.push(paxRecord("uid", Buffer.from(String(entry.uid))));
  if (entry.gid > MAX_OCTAL_7) records.push(paxRecord("gid", Buffer.from(String(entry.gid))));
  if (entry.xattrs) {
    for (const name of [...entry.xattrs.keys()].sort()) records.push(paxRecord(`SCHILY.xattr.${name}`, entry.xattrs.get(name)!));
  }
  const ustar = headerBlock({
    name: split?.name ?? truncateAscii(archivePath, 100),
    prefix: split?.prefix ?? "",
    mode: entry.mode & 0o7777,
    uid: Math.min(entry.uid, MAX_OCTAL_7),
    gid: Math.min(entry.gid, MAX_OCTAL_7),
    size: Math.min(size, MAX_OCTAL_11),
    mtime: Math.max(0, Math.min(Math.floor(entry.mtime), MAX_OCTAL_11)),
    typeflag: TYPE_FLAGS[entry.type],
    linkname: linkFits ? linkTarget : truncateAscii(linkTarget, 100),
    devMajor: entry.devMajor ?? 0,
    devMinor: entry.devMinor ?? 0,
  });
  if (records.length === 0) return ustar;
  const paxBody = Buffer.concat(records);
  const paxHeader = headerBlock({
    name: truncateAscii(`PaxHeaders/${lastComponent(archivePath)}`, 100),
    prefix: "",
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: paxBody.length,
    mtime: Math.max(0, Math.min(Math.floor(entry.mtime), MAX_OCTAL_11)),
    typeflag: "x",
    linkname: "",
    devMajor: 0,
    devMinor: 0,
  });
  return Buffer.concat([paxHeader, paxBody, paddingFor(paxBody.length), ustar]);
}

function lastComponent(path: string): string {
  const trimmed = path.endsWith("/") ? path.slice(0, -1) : path;
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** An ASCII stand-in for a field whose real value lives in the PAX header. */
function truncateAscii(value: string, bytes: number): string {
  return value.replace(/[^\x20-\x7e]/g, "_").slice(0, bytes);
}
