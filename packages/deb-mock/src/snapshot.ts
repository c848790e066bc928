import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { currentProcessOwner, isOwnerAlive, type ProcessOwner } from "@debian-bootc/core";
import type { CacheLayout } from "./cache-layout.js";
import { debMockError } from "./errors.js";
import { makeRangeDirs, type RangeOwner, removeRangeTree } from "./range-fs.js";
import type { SandboxRoot } from "./sandbox.js";

/** Recorded in snapshots/ID/owner.json: who owns the snapshot and which layers it stands on. */
export interface SnapshotOwner extends ProcessOwner {
  id: string;
  profile: string;
  key: string;
  lower: string[];
  purpose: string;
  createdAt: string;
  /** Kept snapshots (--no-clean) survive their owner until `clean`. */
  keep: boolean;
}

export interface Snapshot {
  id: string;
  dir: string;
  /** Host directory bind-mounted at /build inside. */
  build: string;
  /** Host directory for this run's logs (moved into the result directory at the end). */
  logs: string;
  root: Extract<SandboxRoot, { kind: "overlay" }>;
  owner: SnapshotOwner;
}

function snapshotPaths(layout: CacheLayout, id: string) {
  const dir = layout.snapshotDir(id);
  return {
    dir,
    upper: join(dir, "upper"),
    work: join(dir, "work"),
    mountpoint: join(dir, "root"),
    build: join(dir, "build"),
    logs: join(dir, "logs"),
  };
}

/** Snapshot `id` of the layout: its directories and its overlay over the owner's lower layers. */
function snapshotOf(layout: CacheLayout, id: string, owner: SnapshotOwner): Snapshot {
  const paths = snapshotPaths(layout, id);
  return {
    id,
    dir: paths.dir,
    build: paths.build,
    logs: paths.logs,
    root: { kind: "overlay", lower: owner.lower, upper: paths.upper, work: paths.work, mountpoint: paths.mountpoint },
    owner,
  };
}

export interface CreateSnapshotOptions {
  key: string;
  profile: string;
  /** Lower layers, top first (the index layer, then the base's rootfs). */
  lower: string[];
  purpose: string;
  keep?: boolean;
  /** Owner of /build inside (the build user; an id of the environment). */
  buildOwner?: RangeOwner;
}

/**
 * A new snapshot: empty upper and work directories for an overlay over `lower`, a /build directory and a
 * logs directory, and owner.json naming this process. Nothing is mounted here: the overlay is mounted in
 * the private mount namespace of each command that runs in it, so no mount can outlive deb-mock.
 */
export async function createSnapshot(layout: CacheLayout, options: CreateSnapshotOptions): Promise<Snapshot> {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  const id = `${options.profile}-${stamp}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const paths = snapshotPaths(layout, id);
  // the environment's root mounts the overlay and writes its upper; /build belongs to the build user;
  // logs are the caller's (deb-mock writes them)
  await mkdir(paths.logs, { recursive: true });
  await makeRangeDirs(paths.dir, ["upper", "work", "root"]);
  await makeRangeDirs(paths.dir, ["build"], options.buildOwner);
  const owner: SnapshotOwner = {
    id,
    ...(await currentProcessOwner()),
    profile: options.profile,
    key: options.key,
    lower: options.lower,
    purpose: options.purpose,
    createdAt: new Date().toISOString(),
    keep: options.keep ?? false,
  };
  await writeFile(join(paths.dir, "owner.json"), `${JSON.stringify(owner, null, 2)}\n`);
  return snapshotOf(layout, id, owner);
}

export async function readSnapshotOwner(layout: CacheLayout, id: string): Promise<SnapshotOwner | undefined> {
  try {
    return JSON.parse(await readFile(join(layout.snapshotDir(id), "owner.json"), "utf8")) as SnapshotOwner;
  } catch {
    return undefined;
  }
}

/** A kept snapshot, re-opened by this process (for `shell --snapshot ID`). */
export async function openSnapshot(layout: CacheLayout, id: string): Promise<Snapshot> {
  if (!/^[\w.-]+$/.test(id)) throw debMockError("SNAPSHOT_NOT_FOUND", `'${id}' is not a snapshot id`);
  const owner = await readSnapshotOwner(layout, id);
  if (!owner) throw debMockError("SNAPSHOT_NOT_FOUND", `no snapshot ${id} in ${layout.snapshotsDir}`, { hint: "see 'deb-mock status'" });
  return snapshotOf(layout, id, owner);
}

export async function setSnapshotKeep(snapshot: Snapshot, keep: boolean): Promise<void> {
  snapshot.owner.keep = keep;
  await writeFile(join(snapshot.dir, "owner.json"), `${JSON.stringify(snapshot.owner, null, 2)}\n`);
}

/**
 * Put another lower layer on top of a snapshot's lowers (a build-dependency layer). Every command mounts
 * the overlay afresh, so the next command sees it; owner.json records it so that pruning keeps it.
 */
export async function pushSnapshotLower(snapshot: Snapshot, layer: string): Promise<void> {
  const lower = [layer, ...snapshot.root.lower];
  snapshot.root = { ...snapshot.root, lower };
  snapshot.owner.lower = lower;
  await writeFile(join(snapshot.dir, "owner.json"), `${JSON.stringify(snapshot.owner, null, 2)}\n`);
}

/** Remove a snapshot's files (nothing is mounted on the host, so this is all there is to undo). */
export async function destroySnapshot(layout: CacheLayout, id: string): Promise<void> {
  await removeRangeTree(layout.snapshotDir(id));
}

export interface SnapshotStatus {
  owner: SnapshotOwner | undefined;
  id: string;
  alive: boolean;
}

export async function listSnapshots(layout: CacheLayout): Promise<SnapshotStatus[]> {
  let entries: string[] = [];
  try {
    entries = await readdir(layout.snapshotsDir);
  } catch {
    return [];
  }
  const out: SnapshotStatus[] = [];
  for (const id of entries.sort()) {
    const owner = await readSnapshotOwner(layout, id);
    out.push({ id, owner, alive: owner ? await isOwnerAlive(owner) : false });
  }
  return out;
}

/**
 * Remove what killed runs left: snapshots whose owner process is gone (unless kept). A directory without
 * owner.json is a snapshot whose creation was interrupted; it is removed once it is a minute old.
 */
export async function cleanStaleSnapshots(layout: CacheLayout): Promise<string[]> {
  const removed: string[] = [];
  for (const snap of await listSnapshots(layout)) {
    if (snap.alive || snap.owner?.keep) continue;
    if (!snap.owner) {
      const info = await stat(layout.snapshotDir(snap.id)).catch(() => undefined);
      if (!info || Date.now() - info.mtimeMs < 60_000) continue;
    }
    await destroySnapshot(layout, snap.id);
    removed.push(snap.id);
  }
  return removed;
}

/** Every lower layer used by a live or kept snapshot (generation pruning must not remove these). */
export async function liveSnapshotLowers(layout: CacheLayout): Promise<Set<string>> {
  const out = new Set<string>();
  for (const snap of await listSnapshots(layout)) {
    if (!snap.owner || !(snap.alive || snap.owner.keep)) continue;
    for (const lower of snap.owner.lower) out.add(lower);
  }
  return out;
}
