import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { isCodedError, type Logger, run, withLock } from "@debian-bootc/core";
import { composeError } from "../errors.js";
import type { IdShift } from "./image-root.js";
import type { TreeKeyInputs } from "./tree-key.js";

/**
 * Finished root trees kept in the compose cache (<cache-dir>/rootfs/<key>/{tree,entry.json}), so that a
 * recompose whose tree inputs are unchanged (tree-key.ts) reuses the tree instead of running mmdebstrap
 * and dracut again.
 *
 * - Publishing copies the finished tree into a temporary directory beside the entries (hard links, so
 *   it costs directory entries only), writes entry.json last, then renames it into place: an entry
 *   either is whole or does not exist. A compose killed half-way leaves only a `.tmp-*` directory, which
 *   no lookup trusts and the next publish removes.
 * - Every change (publish, replace, prune, removing leftovers) happens under an exclusive flock of
 *   <cache-dir>/rootfs/.lock; a checkout holds it shared, so an entry is never pruned while copied.
 * - A compose gets its own copy of a cached tree (`cp -a --link`: new directories, shared file
 *   inodes). Later phases only rename directories in it (the ostree commit's /etc -> /usr/etc), which
 *   does not touch the cached tree; nothing may modify a file of the copy in place.
 * - Only the `keep` most recently used entries stay.
 * - With `owners`, a checkout first checks that every file of the entry belongs to that id range (the
 *   sandbox's, which owns the trees it builds): an entry with another owner (a tree a runroot handed
 *   back to the host's ids, or one changed on disk) is a miss, logged, and the tree is built again and
 *   replaces it.
 */

export const ROOTFS_CACHE_SUBDIR = "rootfs";
const ENTRY_FILE = "entry.json";
const USED_FILE = "last-used";
const LOCK_TIMEOUT_MS = 30 * 60_000;

/** What entry.json records about a cached tree. */
export interface CachedTreeEntry {
  key: string;
  /** This particular tree: its key plus when it was built. The ostree phase compares it with the last commit's. */
  treeId: string;
  createdAt: string;
  /** The compose that built it. */
  composeId: string;
  kver: string;
  /** Step durations of the build that made it (milliseconds). */
  durations: Record<string, number>;
  inputs: TreeKeyInputs;
}

export interface RootfsCacheOptions {
  /** How many entries to keep (most recently used first); default 3. */
  keep?: number;
  /** The id range every file of a cached tree must belong to (checked at checkout). */
  owners?: IdShift;
  logger?: Logger;
  signal?: AbortSignal;
}

export function newTreeId(key: string, now = new Date()): string {
  return `${key}.${now.toISOString().replace(/[-:.]/g, "")}.${randomBytes(3).toString("hex")}`;
}

async function sameFilesystem(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a), stat(b)]);
  return sa.dev === sb.dev;
}

function isKey(name: string): boolean {
  return /^[0-9a-f]{64}$/.test(name);
}

export class RootfsCache {
  readonly dir: string;
  readonly keep: number;
  private readonly owners?: IdShift;
  private readonly logger?: Logger;
  private readonly signal?: AbortSignal;

  constructor(cacheDir: string, options: RootfsCacheOptions = {}) {
    this.dir = join(cacheDir, ROOTFS_CACHE_SUBDIR);
    this.keep = Math.max(1, options.keep ?? 3);
    this.owners = options.owners;
    this.logger = options.logger;
    this.signal = options.signal;
  }

  private lock<T>(shared: boolean, fn: () => Promise<T>): Promise<T> {
    return withLock(
      join(this.dir, ".lock"),
      {
        shared,
        timeoutMs: LOCK_TIMEOUT_MS,
        signal: this.signal,
        what: `the rootfs cache ${this.dir}`,
        hint: "wait for the other compose to finish, or run with --no-rootfs-cache",
      },
      fn,
    );
  }

  /** entry.json of a published entry, or undefined when there is none (or it is not whole). */
  async entry(key: string): Promise<CachedTreeEntry | undefined> {
    const dir = join(this.dir, key);
    try {
      const entry = JSON.parse(await readFile(join(dir, ENTRY_FILE), "utf8")) as CachedTreeEntry;
      if (entry.key !== key || !(await stat(join(dir, "tree"))).isDirectory()) return undefined;
      return entry;
    } catch {
      return undefined;
    }
  }

  /** Keys of the published entries, most recently used first. */
  async keys(): Promise<string[]> {
    const names = (await readdir(this.dir).catch(() => [] as string[])).filter(isKey);
    const used = await Promise.all(
      names.map(async (k) => ({
        k,
        t: await stat(join(this.dir, k, USED_FILE)).then(
          (s) => s.mtimeMs,
          () => 0,
        ),
      })),
    );
    return used.sort((a, b) => b.t - a.t || (a.k < b.k ? -1 : 1)).map((u) => u.k);
  }

  /**
   * Copy the cached tree of `key` to `dest` (which must not exist yet; its parent is created). Returns
   * the entry, or undefined on a miss.
   */
  async checkout(key: string, dest: string): Promise<CachedTreeEntry | undefined> {
    await mkdir(this.dir, { recursive: true });
    return this.lock(true, async () => {
      const entry = await this.entry(key);
      if (!entry) return undefined;
      const stranger = await this.ownedOutsideRange(join(this.dir, key, "tree"));
      if (stranger) {
        this.logger?.warn({ key, path: stranger }, "rootfs cache: entry refused, a file is not owned by the sandbox's id range");
        return undefined;
      }
      await rm(dest, { recursive: true, force: true });
      await mkdir(dirname(dest), { recursive: true });
      await this.copyTree(join(this.dir, key, "tree"), dest);
      await this.touch(key);
      return entry;
    });
  }

  /**
   * Publish a finished tree under its key (replacing an entry of the same key), then prune to `keep`
   * entries. Returns the keys pruned.
   */
  async publish(tree: string, entry: CachedTreeEntry): Promise<{ pruned: string[] }> {
    await mkdir(this.dir, { recursive: true });
    return this.lock(false, async () => {
      await this.removeLeftovers();
      const temp = join(this.dir, `.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
      try {
        await mkdir(temp);
        await this.copyTree(tree, join(temp, "tree"));
        await writeFile(join(temp, USED_FILE), "");
        // entry.json last: a directory without it is never trusted
        // 0600: the inputs hold the definition's users (password hashes, SSH keys)
        await writeFile(join(temp, ENTRY_FILE), `${JSON.stringify(entry, null, 2)}\n`, { mode: 0o600 });
        const final = join(this.dir, entry.key);
        const old = join(this.dir, `.old-${process.pid}-${randomBytes(4).toString("hex")}`);
        const replacing = await stat(final).then(
          () => true,
          () => false,
        );
        if (replacing) await rename(final, old);
        await rename(temp, final);
        if (replacing) await rm(old, { recursive: true, force: true });
      } catch (error) {
        await rm(temp, { recursive: true, force: true });
        throw error;
      }
      return { pruned: await this.pruneLocked() };
    });
  }

  /** Prune to `keep` entries (under the lock). */
  async prune(): Promise<string[]> {
    await mkdir(this.dir, { recursive: true });
    return this.lock(false, async () => {
      await this.removeLeftovers();
      return this.pruneLocked();
    });
  }

  private async pruneLocked(): Promise<string[]> {
    const keys = await this.keys();
    const pruned = keys.slice(this.keep);
    for (const key of pruned) {
      // renamed away first, so an interrupted removal never leaves a half entry under its key
      const gone = join(this.dir, `.old-${process.pid}-${randomBytes(4).toString("hex")}`);
      await rename(join(this.dir, key), gone);
      await rm(gone, { recursive: true, force: true });
      this.logger?.info({ key }, "rootfs cache: entry pruned");
    }
    return pruned;
  }

  /** Temporary and half-removed directories of killed composes (only called under the exclusive lock). */
  private async removeLeftovers(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (name.startsWith(".tmp-") || name.startsWith(".old-")) {
        await rm(join(this.dir, name), { recursive: true, force: true });
        this.logger?.info({ leftover: name }, "rootfs cache: leftover of an interrupted compose removed");
      }
    }
  }

  /** The first entry of `tree` whose owner or group is outside `owners` (undefined: all inside, or no `owners`). */
  private async ownedOutsideRange(tree: string): Promise<string | undefined> {
    if (!this.owners) return undefined;
    const { uid, gid, count } = this.owners;
    const outside = (test: string, start: number) => [test, `-${start}`, "-o", test, `+${start + count - 1}`];
    const { stdout } = await run("find", [tree, "(", ...outside("-uid", uid), "-o", ...outside("-gid", gid), ")", "-print", "-quit"], {
      signal: this.signal,
      logger: this.logger,
      debianPackage: "findutils",
    });
    return stdout.trim() || undefined;
  }

  private async touch(key: string): Promise<void> {
    const now = new Date();
    await utimes(join(this.dir, key, USED_FILE), now, now).catch(() => writeFile(join(this.dir, key, USED_FILE), ""));
  }

  /** `cp -a --link` within one filesystem; a full `cp -a` (reflinks where possible) across filesystems. */
  private async copyTree(from: string, to: string): Promise<void> {
    const link = await sameFilesystem(from, dirname(to));
    try {
      await run("cp", ["-a", link ? "--link" : "--reflink=auto", "--", from, to], {
        signal: this.signal,
        logger: this.logger,
        debianPackage: "coreutils",
      });
    } catch (error) {
      await rm(to, { recursive: true, force: true });
      if (isCodedError(error, "INTERRUPTED")) throw error;
      throw composeError("ROOTFS_CACHE_FAILED", `copying ${from} to ${to} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}
