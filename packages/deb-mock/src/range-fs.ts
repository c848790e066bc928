import type { Stats } from "node:fs";
import { existsSync } from "node:fs";
import { chmod, cp, lchown, lstat, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { run } from "@debian-bootc/core";
import { debMockError } from "./errors.js";
import { type IdRange, idRange, RANGE_SIZE } from "./id-range.js";
import { userNamespacePrefix } from "./sandbox.js";

/**
 * Host-side file operations on trees owned by the id range (bases, snapshots, layers). Root does them
 * directly (and shifts owners into the range with chown); an ordinary user cannot touch files owned by
 * its subordinate ids, so for it they run as the range's root in a user namespace that also maps the
 * caller (trusted, constant commands; paths are arguments after `--`).
 */

/** An id inside the environment (0 = its root). */
export interface RangeOwner {
  uid: number;
  gid: number;
}

const RANGE_ROOT: RangeOwner = { uid: 0, gid: 0 };

async function asRangeRoot(range: IdRange, command: readonly string[], input?: string): Promise<void> {
  const [program, ...args] = [...userNamespacePrefix(range, { mapCaller: true }), ...command];
  await run(program!, args, { debianPackage: "uidmap", ...(input === undefined ? {} : { input }) });
}

/** Hand files the caller made (modes unchanged) to `owner` inside the range; `recursive`: whole trees. */
export async function giveToRange(
  paths: readonly string[],
  owner: RangeOwner = RANGE_ROOT,
  options: { recursive?: boolean } = {},
): Promise<void> {
  if (paths.length === 0) return;
  const range = await idRange();
  const flags = ["--no-dereference", ...(options.recursive ? ["--recursive"] : [])];
  if (range.caller.uid !== 0) await asRangeRoot(range, ["chown", ...flags, `${owner.uid}:${owner.gid}`, "--", ...paths]);
  else if (options.recursive)
    await run("chown", [...flags, `${range.uid.start + owner.uid}:${range.gid.start + owner.gid}`, "--", ...paths]);
  else for (const path of paths) await lchown(path, range.uid.start + owner.uid, range.gid.start + owner.gid);
}

/**
 * Create directories `under/rel` owned by `owner` inside the range; missing parents below `under` (a
 * directory that exists) are created too, owned by the range's root (they show as directories of the
 * environment). Directories that exist already are left as they are.
 */
export async function makeRangeDirs(under: string, rels: readonly string[], owner: RangeOwner = RANGE_ROOT): Promise<void> {
  const parents: string[] = [];
  const leaves: string[] = [];
  const range = await idRange();
  for (const rel of rels) {
    const parts = rel.split("/").filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const dir = join(under, ...parts.slice(0, i));
      if (existsSync(dir)) continue;
      // an ordinary user cannot write into a directory of its range (a snapshot's /build): its root can
      if (range.caller.uid !== 0 && (await stat(dirname(dir))).uid !== range.caller.uid) await asRangeRoot(range, ["mkdir", "--", dir]);
      else await mkdir(dir);
      (i === parts.length ? leaves : parents).push(dir);
    }
  }
  await giveToRange(parents, RANGE_ROOT);
  await giveToRange(leaves, owner);
}

/** Remove a tree that holds files of the range (a base generation, a snapshot, a layer). */
export async function removeRangeTree(path: string): Promise<void> {
  const range = await idRange();
  if (range.caller.uid === 0) await rm(path, { recursive: true, force: true, maxRetries: 3 });
  else await asRangeRoot(range, ["rm", "-rf", "--one-file-system", "--", path]);
}

/** Every entry of a host tree (not following symbolic links), a few at a time. */
async function walkTree(path: string, visit: (entry: string, info: Stats) => Promise<void>): Promise<void> {
  const info = await lstat(path);
  await visit(path, info);
  if (!info.isDirectory()) return;
  const names = await readdir(path);
  // a few at a time: enough to hide latency, few enough for file descriptors
  for (let i = 0; i < names.length; i += 32) await Promise.all(names.slice(i, i + 32).map((n) => walkTree(join(path, n), visit)));
}

/**
 * Shift the owners of a host tree into the range (`in`: host id N below RANGE_SIZE becomes the range's
 * N, so the environment sees the tree's real owners: root is 0 inside) or back out of it (`out`), so
 * that a tree a runroot works on keeps its own owners on the host (an image's files: root is 0).
 * Idempotent for each direction; set-id bits and file capabilities (security.capability, as ping's
 * cap_net_raw), which chown clears, are put back.
 *
 * For an ordinary user, whose trees hold only its own files: `in` hands the caller's files to the
 * range's root (the environment sees them as root's, as in `unshare -r`), `out` hands every file of the
 * range back to the caller (one uid cannot keep the environment's other owners); set-id bits are not
 * kept. Both run as the range's root, which reaches the directories the environment made.
 */
export async function shiftTree(path: string, direction: "in" | "out"): Promise<void> {
  const range = await idRange();
  if (range.caller.uid !== 0) return shiftCallerTree(range, path, direction);
  const shift = (id: number, start: number) => {
    if (direction === "in") return id < RANGE_SIZE ? id + start : id;
    return id >= start && id < start + RANGE_SIZE ? id - start : id;
  };
  const capabilities = await readFileCapabilities(path);
  await walkTree(path, async (entry, info) => {
    const uid = shift(info.uid, range.uid.start);
    const gid = shift(info.gid, range.gid.start);
    if (uid !== info.uid || gid !== info.gid) {
      await lchown(entry, uid, gid);
      if (!info.isSymbolicLink() && info.mode & 0o6000) await chmod(entry, info.mode & 0o7777);
    }
  });
  if (capabilities) await restoreFileCapabilities(capabilities);
}

/** The tree's file capabilities as getfattr dumps them (absolute names), or undefined when it has none. */
async function readFileCapabilities(path: string): Promise<string | undefined> {
  const { stdout } = await run(
    "getfattr",
    [
      "--recursive",
      "--physical",
      "--no-dereference",
      "--absolute-names",
      "--dump",
      "--match=^security\\.capability$",
      "--encoding=hex",
      "--",
      resolve(path),
    ],
    { debianPackage: "attr", okCodes: [1] },
  );
  return stdout.includes("security.capability=") ? stdout : undefined;
}

/** Set the capabilities of a getfattr dump again, byte for byte (as root, the revision and root id are kept). */
async function restoreFileCapabilities(dump: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "deb-mock-caps-"));
  try {
    await writeFile(join(dir, "dump"), dump);
    await run("setfattr", ["--no-dereference", `--restore=${join(dir, "dump")}`], { debianPackage: "attr" });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Runs as the range's root of a helper namespace (range 0..65535, the caller RANGE_SIZE): changes the
// owner of every entry of the tree $1 that the find tests after $2 select to $2. Constant text.
const CHOWN_SELECTED_SCRIPT = `dir=$1 owner=$2; shift 2; exec find "$dir" "$@" -exec chown --no-dereference "$owner" -- {} +`;

async function shiftCallerTree(range: IdRange, path: string, direction: "in" | "out"): Promise<void> {
  const caller = String(RANGE_SIZE);
  // the range's ids but 65534, which also stands for the host's ids the namespace does not map
  const rangeIds = (test: string) => ["(", test, "-65534", "-o", test, "65535", ")"];
  const select = direction === "in" ? ["-uid", caller, "-gid", caller] : ["(", ...rangeIds("-uid"), "-o", ...rangeIds("-gid"), ")"];
  const owner = direction === "in" ? "0:0" : `${caller}:${caller}`;
  await asRangeRoot(range, ["sh", "-c", CHOWN_SELECTED_SCRIPT, "deb-mock-shift", resolve(path), owner, ...select]);
}

/**
 * The environment's root (an ordinary uid of the host) must reach the cache: search permission for
 * others on the cache root (added when the caller owns it, e.g. a private temporary directory) and on
 * every directory above it (SANDBOX_FAILED naming the first that lacks it).
 */
export async function makeReachable(dir: string): Promise<void> {
  const info = await stat(dir);
  if (!(info.mode & 0o001) && info.uid === process.getuid?.()) await chmod(dir, (info.mode & 0o7777) | 0o011);
  await assertReachableAbove(dir, (parent) => `chmod o+x ${parent}, or choose another cache.root`);
}

/** SANDBOX_FAILED naming the first directory above `dir` that others (the environments' root) cannot search. */
export async function assertReachableAbove(dir: string, hint: (parent: string) => string): Promise<void> {
  for (let parent = dirname(dir); parent !== dirname(parent); parent = dirname(parent)) {
    if (!((await stat(parent)).mode & 0o001)) {
      throw debMockError(
        "SANDBOX_FAILED",
        `the environments' root (a subordinate uid) cannot reach ${dir}: ${parent} is not searchable by others`,
        { hint: hint(parent) },
      );
    }
  }
}

/**
 * Copy host files or trees (`from`, readable by the caller) to `to` inside a range-owned directory,
 * owned by `owner` there. Root copies and hands over; an ordinary user, who cannot write there, copies
 * as the range's root (which reads the caller's files through the caller's mapping).
 */
export async function copyIntoRange(pairs: ReadonlyArray<{ from: string; to: string }>, owner: RangeOwner): Promise<void> {
  if (pairs.length === 0) return;
  const range = await idRange();
  if (range.caller.uid === 0) {
    // verbatimSymlinks: a relative symbolic link stays relative (not resolved to a host path)
    for (const { from, to } of pairs) await cp(from, to, { recursive: true, verbatimSymlinks: true });
    await giveToRange(
      pairs.map((p) => p.to),
      owner,
      { recursive: true },
    );
    return;
  }
  for (const { from, to } of pairs) {
    await asRangeRoot(range, ["cp", "-R", "--no-preserve=ownership", "--", from, to]);
    await asRangeRoot(range, ["chown", "-R", "--no-dereference", `${owner.uid}:${owner.gid}`, "--", to]);
  }
}
