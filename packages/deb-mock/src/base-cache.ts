import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { isCodedError, type Logger, run, withLock } from "@debian-bootc/core";
import type { CacheLayout } from "./cache-layout.js";
import { LOCK_HINT } from "./cache-layout.js";
import { debMockError } from "./errors.js";
import type { ProgressListener } from "./events.js";
import { idRange } from "./id-range.js";
import { type Profile, parseDuration } from "./profile-schema.js";
import { makeRangeDirs, removeRangeTree } from "./range-fs.js";
import { runSandboxed, userNamespacePrefix } from "./sandbox.js";
import { createSnapshot, destroySnapshot, liveSnapshotLowers } from "./snapshot.js";

/** Bump when the way a base is made changes, so old bases are not reused. */
const BASE_FORMAT = 4;

/**
 * Packages deb-mock itself puts into every base, beside the profile's basePackages: eatmydata makes the
 * build-dependency installation skip fsync (a snapshot is thrown away, so durability is wasted work).
 */
export const INTERNAL_BASE_PACKAGES = ["eatmydata"] as const;

export interface BaseIdentity {
  /** `PROFILE-HASH16`: the cache key of the base. */
  key: string;
  /** sha256 over everything that defines the base. */
  hash: string;
  mirror: string;
  inputs: Record<string, unknown>;
}

export async function baseIdentity(profile: Profile, mirror: string): Promise<BaseIdentity> {
  const range = await idRange();
  const keys: Array<{ path: string; sha256: string }> = [];
  for (const path of profile.extraKeys) {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (error) {
      throw debMockError("PROFILE_INVALID", `profile ${profile.name}: extraKeys: cannot read ${path}: ${(error as Error).message}`);
    }
    keys.push({ path, sha256: createHash("sha256").update(data).digest("hex") });
  }
  const inputs = {
    format: BASE_FORMAT,
    suite: profile.suite,
    architecture: profile.architecture,
    components: profile.components,
    mirror,
    extraSources: profile.extraSources,
    extraKeys: keys,
    variant: profile.variant,
    basePackages: [...profile.basePackages].sort(),
    buildUser: profile.buildUser,
    buildUid: profile.buildUid,
    // format 4: owned on disk by a subordinate id range (format 3 and older: by the host's root); a
    // base belongs to one range
    idRange: { uid: range.uid.start, gid: range.gid.start },
  };
  const hash = createHash("sha256").update(JSON.stringify(inputs)).digest("hex");
  return { key: `${profile.name}-${hash.slice(0, 16)}`, hash, mirror, inputs };
}

export interface GenerationInfo {
  /** The generation directory (bases/KEY/gen-TIME or bases/KEY/index-TIME). */
  dir: string;
  createdAt: Date;
  ageMs: number;
}

async function currentGeneration(link: string): Promise<GenerationInfo | undefined> {
  let target: string;
  try {
    target = await readlink(link);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const dir = join(link, "..", target);
  try {
    const meta = JSON.parse(await readFile(join(dir, "meta.json"), "utf8")) as { createdAt: string };
    const createdAt = new Date(meta.createdAt);
    return { dir, createdAt, ageMs: Date.now() - createdAt.getTime() };
  } catch {
    return undefined;
  }
}

export const currentBase = (layout: CacheLayout, key: string) => currentGeneration(layout.baseCurrent(key));
export const currentIndex = (layout: CacheLayout, key: string) => currentGeneration(layout.indexCurrent(key));

/** Point `link` at `target` (a name in the same directory) atomically: new symlink, then rename over. */
async function swapSymlink(link: string, target: string): Promise<void> {
  const temp = `${link}.tmp-${process.pid}`;
  await rm(temp, { force: true });
  await symlink(target, temp);
  await rename(temp, link);
}

function generationName(prefix: string): string {
  return `${prefix}-${new Date()
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}-${process.pid}`;
}

export interface EnvContext {
  profile: Profile;
  layout: CacheLayout;
  identity: BaseIdentity;
  logger?: Logger;
  signal?: AbortSignal;
  onEvent?: ProgressListener;
  /** Lines for root.log. */
  rootLog?: (line: string) => void;
}

function lockTimeout(profile: Profile): number {
  return parseDuration(profile.cache.lockTimeout);
}

/** How often a process making a base or an index tells waiters it is alive (see LockOptions.heartbeatMs). */
const MAKING_HEARTBEAT_MS = 20_000;

/**
 * Lock options for making a base or an index: a slow first base (a loaded machine, a slow mirror) is
 * waited for as long as its maker lives, instead of failing every other build after cache.lockTimeout.
 */
function makingLockOptions(ctx: Pick<EnvContext, "profile" | "signal" | "rootLog" | "logger">, what: string) {
  return {
    timeoutMs: lockTimeout(ctx.profile),
    hint: LOCK_HINT,
    signal: ctx.signal,
    what,
    heartbeatMs: MAKING_HEARTBEAT_MS,
    onStillWaiting: (message: string) => {
      ctx.rootLog?.(message);
      ctx.logger?.info({ waiting: what }, message);
    },
  };
}

export function sourcesList(profile: Profile, mirror: string): string[] {
  return [`deb ${mirror} ${profile.suite} ${profile.components.join(" ")}`, ...profile.extraSources];
}

/** Create a new base generation with mmdebstrap and make it current. The caller holds the base lock. */
async function createBase(ctx: EnvContext): Promise<GenerationInfo> {
  const { profile, layout, identity } = ctx;
  const baseDir = layout.baseDir(identity.key);
  await mkdir(baseDir, { recursive: true });
  const name = generationName("gen");
  const temp = join(baseDir, `.${name}.tmp`);
  const rootfs = join(temp, "rootfs");
  // half-made generations of creations that were killed (SIGKILL, a lost machine): with the base lock held,
  // no live creation owns one
  for (const entry of await readdir(baseDir)) if (/^\.gen-.*\.tmp$/.test(entry)) await removeRangeTree(join(baseDir, entry));
  await mkdir(temp, { recursive: true });
  // mmdebstrap's TMPDIR (its gpg home): inside the generation's temporary directory, it goes with it when an
  // interrupted creation is cleaned up, where a killed mmdebstrap would leave it in /tmp
  const tmp = join(temp, "tmp");
  await makeRangeDirs(temp, ["rootfs", "tmp"]);
  const log = (line: string) => {
    ctx.rootLog?.(line);
    ctx.onEvent?.({ type: "root-log", text: line });
  };
  try {
    const include = [`--include=${[...new Set([...INTERNAL_BASE_PACKAGES, ...profile.basePackages])].join(",")}`];
    const keyrings = profile.extraKeys.map((k) => `--keyring=${k}`);
    const args = [
      // run as the root of a user namespace mapped to the id range (below), mmdebstrap's unshare mode
      // only unshares the mount namespace for its /proc, /sys and /dev: the tree is owned by the range
      "--mode=unshare",
      `--variant=${profile.variant}`,
      `--architectures=${profile.architecture}`,
      ...include,
      ...keyrings,
      '--aptopt=Acquire::Retries "3"',
      profile.suite,
      rootfs,
      ...sourcesList(profile, identity.mirror),
    ];
    log(`mmdebstrap ${args.join(" ")}`);
    try {
      // the private mount namespace makes mmdebstrap's mounts vanish with the process, so an interrupted
      // or killed creation leaves none behind
      const [program, ...prefix] = userNamespacePrefix(await idRange());
      await run(program!, [...prefix, "mmdebstrap", ...args], {
        env: { ...process.env, TMPDIR: tmp },
        signal: ctx.signal,
        logger: ctx.logger,
        debianPackage: "mmdebstrap",
        captureStdout: false,
        onStderr: (c) => log(c.toString("utf8").trimEnd()),
      });
    } catch (error) {
      if (isCodedError(error, "COMMAND_FAILED")) {
        throw debMockError("BASE_CREATE_FAILED", `creating the ${profile.name} base failed: ${error.message}`, { cause: error });
      }
      throw error;
    }
    await removeRangeTree(tmp);
    await configureBase(ctx, rootfs);
    const meta = {
      createdAt: new Date().toISOString(),
      profile: profile.name,
      key: identity.key,
      hash: identity.hash,
      inputs: identity.inputs,
    };
    await writeFile(join(temp, "meta.json"), `${JSON.stringify(meta, null, 2)}\n`);
    await rename(temp, join(baseDir, name));
    await swapSymlink(layout.baseCurrent(identity.key), name);
    log(`base ${identity.key} generation ${name} is current`);
  } catch (error) {
    await removeRangeTree(temp);
    throw error;
  }
  const info = await currentBase(layout, identity.key);
  if (!info) throw debMockError("BASE_CREATE_FAILED", `base ${identity.key} has no readable current generation after creation`);
  return info;
}

// What deb-mock adds to a fresh mmdebstrap tree, run in it as its root: $1 build user, $2 its uid; then
// the names of extra key files, bound at /tmp/deb-mock-keys/NAME. Constant text; values are arguments.
const CONFIGURE_BASE_SCRIPT = `set -eu
user=$1 uid=$2
shift 2
mkdir -p /build
printf '%s\\n' 'APT::Install-Recommends "false";' 'APT::Install-Suggests "false";' \\
  'APT::Keep-Downloaded-Packages "true";' 'Acquire::Languages "none";' 'Acquire::Retries "3";' \\
  'Dpkg::Use-Pty "false";' >/etc/apt/apt.conf.d/90deb-mock
echo force-unsafe-io >/etc/dpkg/dpkg.cfg.d/90deb-mock
# man-db builds its database when installed and again from its trigger after every install of build
# dependencies: seconds for nothing. Its postinst reads this debconf answer (the file is its cache).
rm -f /var/lib/man-db/auto-update
echo 'man-db man-db/auto-update boolean false' | debconf-set-selections
printf '%s\\n' '#!/bin/sh' '# deb-mock: no daemons start in build environments' 'exit 101' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
for key in "$@"; do install -D -m 0644 "/tmp/deb-mock-keys/$key" "/etc/apt/trusted.gpg.d/$key"; done
groupadd --gid "$uid" "$user"
useradd --uid "$uid" --gid "$uid" --home-dir /build --no-create-home --shell /bin/sh "$user"
`;

/** What deb-mock adds to a fresh mmdebstrap tree: build user, /build, apt and dpkg settings, keys. */
async function configureBase(ctx: EnvContext, rootfs: string): Promise<void> {
  const { profile } = ctx;
  const keys = profile.extraKeys.map((path) => ({ source: path, target: `/tmp/deb-mock-keys/${basename(path)}`, readOnly: true }));
  ctx.rootLog?.(`base set-up: apt and dpkg settings, policy-rc.d, extra keys, build user ${profile.buildUser} (${profile.buildUid})`);
  const args = [profile.buildUser, String(profile.buildUid), ...keys.map((k) => basename(k.source))];
  await runSandboxed(
    {
      root: { kind: "directory", path: rootfs },
      command: ["sh", "-c", CONFIGURE_BASE_SCRIPT, "deb-mock-configure", ...args],
      binds: keys,
      network: false,
    },
    { signal: ctx.signal, logger: ctx.logger },
  );
}

export interface EnsureOptions {
  /** Rebuild even when the current base is young enough. */
  force?: boolean;
  /** Fail with BASE_MISSING instead of creating a missing base. */
  noCreate?: boolean;
}

/**
 * The current base of the profile, created or refreshed when missing or older than cache.baseMaxAge.
 * Only the refresh holds the base lock; a reader that finds a young base takes no lock at all.
 */
export async function ensureBase(ctx: EnvContext, options: EnsureOptions = {}): Promise<GenerationInfo> {
  const { layout, identity, profile } = ctx;
  const maxAge = parseDuration(profile.cache.baseMaxAge);
  const fresh = (info: GenerationInfo | undefined) => info !== undefined && !options.force && info.ageMs < maxAge;
  const before = await currentBase(layout, identity.key);
  if (fresh(before)) return before!;
  if (options.noCreate && !before) {
    throw debMockError("BASE_MISSING", `profile ${profile.name} has no base yet`, { hint: `run 'deb-mock -r ${profile.name} init'` });
  }
  const lockOptions = makingLockOptions(ctx, `the ${profile.name} base`);
  return withLock(layout.lock(`base-${identity.key}`), lockOptions, async () => {
    const now = await currentBase(layout, identity.key);
    // someone else refreshed it while we waited; a forced refresh counts as done if it happened meanwhile
    if (now && now.dir !== before?.dir && now.ageMs < maxAge) return now;
    if (fresh(now)) return now!;
    const created = await createBase(ctx);
    await refreshIndex(ctx, created);
    await pruneGenerations(ctx);
    return created;
  });
}

/** Refresh the package-index layer (apt-get update + apt-cache gencaches) from the given base. */
async function refreshIndex(ctx: EnvContext, base: GenerationInfo): Promise<GenerationInfo> {
  const { layout, identity, profile } = ctx;
  const baseDir = layout.baseDir(identity.key);
  const name = generationName("index");
  const temp = join(baseDir, `.${name}.tmp`);
  await removeRangeTree(temp);
  const lists = join(temp, "var/lib/apt/lists");
  const aptCache = join(temp, "var/cache/apt");
  await mkdir(temp, { recursive: true });
  // a lower layer: its directories show in the environment, so they belong to the environment's root
  await makeRangeDirs(temp, ["var/lib/apt/lists/partial", "var/cache/apt"]);
  const snapshot = await createSnapshot(layout, {
    key: identity.key,
    profile: profile.name,
    lower: [join(base.dir, "rootfs")],
    purpose: "index",
  });
  try {
    ctx.rootLog?.("apt-get update (package index refresh)");
    try {
      await runSandboxed(
        {
          root: snapshot.root,
          // apt's lock and archive directory are not part of the layer
          command: ["sh", "-c", "apt-get update -q && apt-cache gencaches -q && rm -rf /var/lib/apt/lists/lock /var/cache/apt/archives"],
          network: true,
          binds: [
            { source: lists, target: "/var/lib/apt/lists" },
            { source: aptCache, target: "/var/cache/apt" },
          ],
        },
        { signal: ctx.signal, logger: ctx.logger, onStdout: (c) => ctx.rootLog?.(c.toString("utf8").trimEnd()) },
      );
    } catch (error) {
      if (isCodedError(error, "COMMAND_FAILED")) {
        throw debMockError("INDEX_UPDATE_FAILED", `apt-get update for ${profile.name} failed: ${error.message}`, { cause: error });
      }
      throw error;
    }
    await writeFile(join(temp, "meta.json"), `${JSON.stringify({ createdAt: new Date().toISOString(), base: base.dir }, null, 2)}\n`);
    await rename(temp, join(baseDir, name));
    await swapSymlink(layout.indexCurrent(identity.key), name);
  } catch (error) {
    await removeRangeTree(temp);
    throw error;
  } finally {
    await destroySnapshot(layout, snapshot.id);
  }
  const info = await currentIndex(layout, identity.key);
  if (!info) throw debMockError("INDEX_UPDATE_FAILED", `index of ${identity.key} unreadable after refresh`);
  return info;
}

/** The current index layer, refreshed (under the index lock) when older than cache.indexMaxAge. */
export async function ensureIndex(ctx: EnvContext, base: GenerationInfo, options: { force?: boolean } = {}): Promise<GenerationInfo> {
  const { layout, identity, profile } = ctx;
  const maxAge = parseDuration(profile.cache.indexMaxAge);
  const ok = (info: GenerationInfo | undefined) => info !== undefined && !options.force && info.ageMs < maxAge;
  const before = await currentIndex(layout, identity.key);
  if (ok(before)) return before!;
  const lockOptions = makingLockOptions(ctx, `the ${profile.name} package index`);
  return withLock(layout.lock(`index-${identity.key}`), lockOptions, async () => {
    const now = await currentIndex(layout, identity.key);
    if (now && now.dir !== before?.dir && now.ageMs < maxAge) return now;
    if (ok(now)) return now!;
    return refreshIndex(ctx, base);
  });
}

/**
 * Remove base and index generations that are neither current nor used by a live or kept snapshot.
 * Takes the base lock exclusively; snapshot creation takes it shared while it records its layers.
 */
export async function pruneGenerations(ctx: Pick<EnvContext, "layout" | "identity" | "profile" | "signal">): Promise<string[]> {
  const { layout, identity } = ctx;
  const removed: string[] = [];
  const baseDir = layout.baseDir(identity.key);
  const lockOptions = {
    timeoutMs: lockTimeout(ctx.profile),
    hint: LOCK_HINT,
    signal: ctx.signal,
    shared: false,
    what: `the ${ctx.profile.name} base`,
  };
  const prune = async () => {
    const inUse = await liveSnapshotLowers(layout);
    const keep = new Set<string>();
    for (const link of [layout.baseCurrent(identity.key), layout.indexCurrent(identity.key)]) {
      try {
        keep.add(join(baseDir, await readlink(link)));
      } catch {
        // no current generation of this kind
      }
    }
    let entries: string[] = [];
    try {
      entries = await readdir(baseDir);
    } catch {
      return;
    }
    for (const entry of entries) {
      const dir = join(baseDir, entry);
      if (!/^(gen|index)-/.test(entry) || keep.has(dir)) continue;
      if ([...inUse].some((lower) => lower === dir || lower.startsWith(`${dir}/`))) continue;
      await removeRangeTree(dir);
      removed.push(dir);
    }
    for (const gen of keep) removed.push(...(await pruneDepsLayers(join(gen, "deps"), ctx.profile.cache.buildDepsLayers, inUse)));
  };
  // snapshot creation holds this lock shared while it resolves and records its layers
  await withLock(layout.lock(`prune-${identity.key}`), lockOptions, prune);
  return removed;
}

/**
 * Keep the `max` most recently used build-dependency layers of a base generation (and any a live snapshot
 * stands on); remove the others, and temporary directories that a killed run left an hour ago or more.
 */
export async function pruneDepsLayers(depsDir: string, max: number, inUse: ReadonlySet<string>): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(depsDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  const layers: Array<{ dir: string; usedAt: number }> = [];
  for (const entry of entries) {
    const dir = join(depsDir, entry);
    const info = await stat(join(dir, entry.startsWith(".") ? "" : "meta.json")).catch(() => undefined);
    if (entry.startsWith(".")) {
      if (info && Date.now() - info.mtimeMs > 3_600_000) {
        await removeRangeTree(dir);
        removed.push(dir);
      }
    } else layers.push({ dir, usedAt: info?.mtimeMs ?? 0 });
  }
  layers.sort((a, b) => b.usedAt - a.usedAt);
  for (const [i, layer] of layers.entries()) {
    if (i < max || inUse.has(join(layer.dir, "layer"))) continue;
    await removeRangeTree(layer.dir);
    removed.push(layer.dir);
  }
  return removed;
}

/** Size of a directory tree in bytes (du), for status. */
export async function treeSize(path: string): Promise<number> {
  try {
    await stat(path);
  } catch {
    return 0;
  }
  const { stdout } = await run("du", ["-sb", "--one-file-system", path], { okCodes: [1] });
  return Number(stdout.split("\t")[0]) || 0;
}
