import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { type Logger, run } from "@debian-bootc/core";
import { type IdShift, imageOwner } from "../rootfs/image-root.js";
import type { TarEntryHeader, TarEntryType } from "./tar-writer.js";

/**
 * One filesystem object of a root tree, as the layer writer needs it: the fields of its tar header but the
 * time and extended attributes, which the writer adds (the path is relative to the root, "/"-separated,
 * without a leading slash: "usr/bin/ls").
 */
export interface FsEntry
  extends Pick<TarEntryHeader, "path" | "type" | "mode" | "uid" | "gid" | "size" | "linkTarget" | "devMajor" | "devMinor"> {
  /** Device and inode, to find hardlinks (nlink > 1). */
  inode: string;
  nlink: number;
}

export interface ScanOptions {
  /** Return false to leave a path (and, for a directory, everything under it) out of the image. */
  include?: (path: string, type: TarEntryType) => boolean;
  /** The subordinate range the tree's owners are shifted by on disk (a tree made in a user namespace): entries get the in-image owners. */
  ids?: IdShift;
  logger?: Logger;
}

/** Linux's encoding of a device number: the major and minor of st_rdev. */
export function splitDeviceNumber(rdev: number): { major: number; minor: number } {
  const big = BigInt(rdev);
  const major = Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn));
  const minor = Number((big & 0xffn) | ((big >> 12n) & ~0xffn));
  return { major, minor };
}

/** Byte order of the UTF-8 names, so the order does not depend on the locale. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * Walk a root tree depth-first in byte order of names (parents before children), with lstat: symlinks
 * are recorded, never followed. Sockets are skipped (they cannot live in an image). Owners are the
 * image's own: shifted back through `ids` when the tree is owned by a subordinate range.
 */
export async function scanRootfs(root: string, options: ScanOptions = {}): Promise<FsEntry[]> {
  const entries: FsEntry[] = [];
  const walk = async (relDir: string): Promise<void> => {
    const names = (await readdir(join(root, relDir))).sort(compareNames);
    for (const name of names) {
      const rel = relDir === "" ? name : `${relDir}/${name}`;
      const st = await lstat(join(root, rel));
      let type: TarEntryType;
      if (st.isFile()) type = "file";
      else if (st.isDirectory()) type = "directory";
      else if (st.isSymbolicLink()) type = "symlink";
      else if (st.isCharacterDevice()) type = "char";
      else if (st.isBlockDevice()) type = "block";
      else if (st.isFIFO()) type = "fifo";
      else {
        options.logger?.warn({ path: rel }, "skipping a socket");
        continue;
      }
      if (options.include && !options.include(rel, type)) continue;
      const { uid, gid } = imageOwner(options.ids, st);
      const entry: FsEntry = {
        path: rel,
        type,
        mode: st.mode & 0o7777,
        uid,
        gid,
        size: type === "file" ? st.size : 0,
        inode: `${st.dev}:${st.ino}`,
        nlink: st.nlink,
      };
      if (type === "symlink") entry.linkTarget = await readlink(join(root, rel));
      if (type === "char" || type === "block") {
        const { major, minor } = splitDeviceNumber(st.rdev);
        entry.devMajor = major;
        entry.devMinor = minor;
      }
      entries.push(entry);
      if (type === "directory") await walk(rel);
    }
  };
  await walk("");
  return entries;
}

/** Attributes that never go into an image layer (SELinux labels are applied at deploy time). */
const SKIPPED_XATTRS = new Set(["security.selinux", "system.nfs4_acl"]);

/** Undo getfattr's octal escapes (`\012`, `\\`) in a file name. */
function unescapeGetfattr(name: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(name, "utf8");
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString("latin1"))) {
      bytes.push(Number.parseInt(raw.subarray(i + 1, i + 4).toString("latin1"), 8));
      i += 3;
    } else if (c === 0x5c && raw[i + 1] === 0x5c) {
      bytes.push(0x5c);
      i += 1;
    } else bytes.push(c);
  }
  return Buffer.from(bytes).toString("utf8");
}

/** Parse `getfattr --dump --encoding=base64 --absolute-names` output into path (relative to root) -> xattrs. */
export function parseGetfattrDump(text: string, root: string): Map<string, Map<string, Buffer>> {
  const result = new Map<string, Map<string, Buffer>>();
  const prefix = root.endsWith("/") ? root : `${root}/`;
  let current: Map<string, Buffer> | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("# file: ")) {
      const abs = unescapeGetfattr(line.slice("# file: ".length));
      const rel = abs.startsWith(prefix) ? abs.slice(prefix.length) : undefined;
      current = rel === undefined ? undefined : new Map();
      if (rel !== undefined && current) result.set(rel, current);
      continue;
    }
    const eq = line.indexOf("=");
    if (current === undefined || eq <= 0) continue;
    const name = line.slice(0, eq);
    if (SKIPPED_XATTRS.has(name)) continue;
    const value = line.slice(eq + 1);
    if (value.startsWith("0s")) current.set(name, Buffer.from(value.slice(2), "base64"));
    else if (value.startsWith("0x")) current.set(name, Buffer.from(value.slice(2), "hex"));
    else current.set(name, Buffer.from(value.replace(/^"|"$/g, ""), "utf8"));
  }
  for (const [path, attrs] of result) if (attrs.size === 0) result.delete(path);
  return result;
}

const VFS_CAP_REVISION_2 = 0x02000000;
const VFS_CAP_REVISION_3 = 0x03000000;
const VFS_CAP_REVISION_MASK = 0xff000000;

/**
 * A file capability as the image must carry it. Set inside a user namespace (setcap in a maintainer
 * script), the kernel stores a revision 3 `security.capability` naming the namespace's root as a host
 * uid (`rootid`); read from the host, that would only work in a namespace with the same range. One
 * whose rootid is the range's root becomes the revision 2 form a booted system applies; others stay.
 */
export function imageFileCapability(value: Buffer, ids: IdShift | undefined): Buffer {
  if (!ids || value.length !== 24) return value;
  const magic = value.readUInt32LE(0);
  if ((magic & VFS_CAP_REVISION_MASK) >>> 0 !== VFS_CAP_REVISION_3 || value.readUInt32LE(20) !== ids.uid) return value;
  const v2 = Buffer.from(value.subarray(0, 20));
  v2.writeUInt32LE((VFS_CAP_REVISION_2 | (magic & ~VFS_CAP_REVISION_MASK)) >>> 0, 0);
  return v2;
}

/**
 * Read every extended attribute under a root with getfattr (Debian package attr); one process for the
 * tree. File capabilities of a tree owned by a subordinate range (`ids`) are given their image form.
 */
export async function readXattrs(
  root: string,
  options: { ids?: IdShift; logger?: Logger; signal?: AbortSignal } = {},
): Promise<Map<string, Map<string, Buffer>>> {
  const result = await run(
    "getfattr",
    ["--recursive", "--physical", "--no-dereference", "--absolute-names", "--dump", "--match=-", "--encoding=base64", root],
    {
      logger: options.logger,
      signal: options.signal,
      debianPackage: "attr",
      okCodes: [1],
    },
  );
  const xattrs = parseGetfattrDump(result.stdout, root);
  for (const attrs of xattrs.values()) {
    const cap = attrs.get("security.capability");
    if (cap) attrs.set("security.capability", imageFileCapability(cap, options.ids));
  }
  return xattrs;
}
