import { join } from "node:path";

/**
 * Where things live under the cache root (default /var/cache/deb-mock):
 *
 *   bases/KEY/current -> gen-TIME       the base in use (a symlink, swapped atomically on refresh)
 *   bases/KEY/gen-TIME/rootfs           one immutable base generation made by mmdebstrap
 *   bases/KEY/gen-TIME/meta.json        what defined it, when it was made
 *   bases/KEY/gen-TIME/deps/HASH/       a package layer over that generation (layer/, meta.json): build
 *                                       dependencies or runroot packages, keyed by the exact .debs
 *   bases/KEY/gen-TIME/plans/INDEX/     apt's remembered plans over that generation and index INDEX
 *   bases/KEY/index -> index-TIME       the cached package index layer (apt lists + pkgcache)
 *   bases/KEY/index-TIME/               var/lib/apt/lists/..., var/cache/apt/*.bin, meta.json
 *   range-apt-archives/                 the shared APT archive (.debs), bind-mounted while apt runs; owned
 *                                       by the id range (apt-archives/ was the host root's, before 2026-12)
 *   src-lists/KEY/                      deb-src package index for `build PACKAGE`
 *   snapshots/ID/{upper,work,build,logs,owner.json}   one build's overlay and files
 *   locks/*.lock                        flock(2) locks
 */
export class CacheLayout {
  constructor(readonly root: string) {}

  get basesDir(): string {
    return join(this.root, "bases");
  }
  baseDir(key: string): string {
    return join(this.basesDir, key);
  }
  baseCurrent(key: string): string {
    return join(this.baseDir(key), "current");
  }
  indexCurrent(key: string): string {
    return join(this.baseDir(key), "index");
  }
  get aptArchives(): string {
    return join(this.root, "range-apt-archives");
  }
  srcLists(key: string): string {
    return join(this.root, "src-lists", key);
  }
  get snapshotsDir(): string {
    return join(this.root, "snapshots");
  }
  snapshotDir(id: string): string {
    return join(this.snapshotsDir, id);
  }
  lock(name: string): string {
    return join(this.root, "locks", `${name}.lock`);
  }
}

/** The remedy in a LOCKED error from deb-mock's cache locks. */
export const LOCK_HINT = "wait for the other deb-mock process to finish, or raise cache.lockTimeout";
