import { existsSync } from "node:fs";
import { lchown, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { type IdRange, idRange } from "./id-range.js";
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

async function asRangeRoot(range: IdRange, command: readonly string[]): Promise<void> {
  const [program, ...args] = [...userNamespacePrefix(range, { mapCaller: true }), ...command];
  await run(program!, args, { debianPackage: "uidmap" });
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
  for (const rel of rels) {
    const parts = rel.split("/").filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const dir = join(under, ...parts.slice(0, i));
      if (existsSync(dir)) continue;
      await mkdir(dir);
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
