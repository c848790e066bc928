import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { withLock } from "@debian-bootc/core";
import { currentBase, currentIndex, treeSize } from "./base-cache.js";
import { CacheLayout, LOCK_HINT } from "./cache-layout.js";
import { type ProfileSelection, resolveProfile } from "./environment.js";
import { parseDuration } from "./profile-schema.js";
import { removeRangeTree } from "./range-fs.js";
import { destroySnapshot, listSnapshots } from "./snapshot.js";

export interface CacheStatus {
  cacheRoot: string;
  bases: Array<{
    key: string;
    profile: string;
    createdAt?: string;
    ageSeconds?: number;
    indexAgeSeconds?: number;
    /** Build-dependency layers of the current generation. */
    buildDepsLayers: number;
    sizeBytes: number;
  }>;
  aptArchive: { packages: number; sizeBytes: number };
  snapshots: Array<{ id: string; profile?: string; purpose?: string; alive: boolean; keep: boolean; createdAt?: string; pid?: number }>;
  totalBytes: number;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

/** Bases (ages, sizes), the package index ages, the APT archive and the snapshots under the cache root. */
export async function cacheStatus(selection: ProfileSelection = {}): Promise<CacheStatus> {
  const profile = await resolveProfile(selection);
  const layout = new CacheLayout(profile.cache.root);
  const bases: CacheStatus["bases"] = [];
  for (const key of await entries(layout.basesDir)) {
    const base = await currentBase(layout, key);
    const index = await currentIndex(layout, key);
    let profileName = key.replace(/-[0-9a-f]{16}$/, "");
    if (base) {
      const meta = JSON.parse(await readFile(join(base.dir, "meta.json"), "utf8").catch(() => "{}")) as { profile?: string };
      profileName = meta.profile ?? profileName;
    }
    bases.push({
      key,
      profile: profileName,
      ...(base ? { createdAt: base.createdAt.toISOString(), ageSeconds: Math.round(base.ageMs / 1000) } : {}),
      ...(index ? { indexAgeSeconds: Math.round(index.ageMs / 1000) } : {}),
      buildDepsLayers: base ? (await entries(join(base.dir, "deps"))).filter((e) => !e.startsWith(".")).length : 0,
      sizeBytes: await treeSize(layout.baseDir(key)),
    });
  }
  const debs = (await entries(layout.aptArchives)).filter((f) => f.endsWith(".deb"));
  const snapshots = (await listSnapshots(layout)).map((s) => ({
    id: s.id,
    profile: s.owner?.profile,
    purpose: s.owner?.purpose,
    alive: s.alive,
    keep: s.owner?.keep ?? false,
    createdAt: s.owner?.createdAt,
    pid: s.owner?.pid,
  }));
  return {
    cacheRoot: layout.root,
    bases,
    aptArchive: { packages: debs.length, sizeBytes: await treeSize(layout.aptArchives) },
    snapshots,
    totalBytes: await treeSize(layout.root),
  };
}

/** Remove the profile's snapshots that no running deb-mock uses (kept ones included). */
export async function cleanSnapshots(selection: ProfileSelection = {}): Promise<string[]> {
  const profile = await resolveProfile(selection);
  const layout = new CacheLayout(profile.cache.root);
  const removed: string[] = [];
  for (const snap of await listSnapshots(layout)) {
    if (snap.alive) continue;
    if (snap.owner && snap.owner.profile !== profile.name) continue;
    await destroySnapshot(layout, snap.id);
    removed.push(snap.id);
  }
  return removed;
}

export type ScrubTarget = "all" | "bases" | "apt-cache" | "snapshots";

/**
 * Remove cached data: `bases` (every base and index not used by a running build), `apt-cache` (the
 * shared .deb archive and the deb-src indexes), `snapshots` (every snapshot no running deb-mock uses),
 * `all` (all of these). Each part is removed under its lock.
 */
export async function scrub(target: ScrubTarget, selection: ProfileSelection = {}): Promise<string[]> {
  const profile = await resolveProfile(selection);
  const layout = new CacheLayout(profile.cache.root);
  const lockOptions = { timeoutMs: parseDuration(profile.cache.lockTimeout), hint: LOCK_HINT };
  const removed: string[] = [];
  if (target === "snapshots" || target === "all") {
    for (const snap of await listSnapshots(layout)) {
      if (snap.alive) continue;
      await destroySnapshot(layout, snap.id);
      removed.push(layout.snapshotDir(snap.id));
    }
  }
  if (target === "bases" || target === "all") {
    const live = await listSnapshots(layout);
    for (const key of await entries(layout.basesDir)) {
      const dir = layout.baseDir(key);
      await withLock(layout.lock(`base-${key}`), { ...lockOptions, what: `base ${key}` }, () =>
        withLock(layout.lock(`prune-${key}`), { ...lockOptions, what: `base ${key}` }, async () => {
          if (live.some((s) => s.alive && s.owner?.lower.some((l) => l.startsWith(`${dir}/`)))) return;
          await removeRangeTree(dir);
          removed.push(dir);
        }),
      );
    }
  }
  if (target === "apt-cache" || target === "all") {
    await withLock(layout.lock("apt-archives"), { ...lockOptions, what: "the shared APT archive" }, async () => {
      await removeRangeTree(layout.aptArchives);
      removed.push(layout.aptArchives);
    });
    const srcLists = join(layout.root, "src-lists");
    await removeRangeTree(srcLists);
    removed.push(srcLists);
  }
  return removed;
}
