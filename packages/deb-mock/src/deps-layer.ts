import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, chown, lstat, mkdir, readdir, readFile, rename, rm, stat, utimes } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "@debian-bootc/core";

/**
 * Build-dependency layers: the files an apt transaction added to a snapshot, kept as a read-only overlay
 * layer so that a later build needing exactly the same packages skips the installation.
 *
 *   bases/KEY/gen-TIME/deps/HASH/layer/      the former upper directory of the snapshot that installed them
 *   bases/KEY/gen-TIME/deps/HASH/meta.json   what it holds and its digest; its mtime is the last use (for pruning)
 *   bases/KEY/gen-TIME/deps/HASH/manifest    every entry of the layer (layer-manifest.ts), checked before reuse
 *
 * HASH is a sha256 over the exact .debs apt chose (file name, size and SHA256 from the signed index) and
 * the packages it removes. The layer lives inside the base generation it was installed over, so it goes
 * when that generation goes, and is never used over another one. Build dependencies and runroot packages
 * (runInEnvironment) share these layers.
 *
 *   bases/KEY/gen-TIME/plans/INDEX/ARGS.json   apt's plan for one transaction over this generation and
 *                                              the index generation INDEX (see readPlanMemo)
 */

/** Bump when the way a layer is made changes, so old layers are not reused (2: manifest and digest). */
const LAYER_FORMAT = 2;

export interface PlannedDownload {
  uri: string;
  /** Its name in /var/cache/apt/archives (epoch colon as %3a). */
  file: string;
  size: number;
  /** Hex SHA256 from the package index, when apt printed one. */
  sha256?: string;
}

export interface AptPlan {
  downloads: PlannedDownload[];
  removed: string[];
  upgraded: number;
  newlyInstalled: number;
  /** Reinstalled and downgraded packages (each has a .deb too). */
  otherChanged: number;
  toRemove: number;
  /** Nothing would be installed, upgraded or removed. */
  nothingToDo: boolean;
}

const URI_LINE = /^'([^']+)' (\S+) (\d+) ?(\S*)$/;
const SUMMARY = /^(\d+) upgraded, (\d+) newly installed, ((?:\d+ [a-z]+, )*)(\d+) to remove\b/m;

/**
 * Parse `apt-get --print-uris -o Acquire::ForceHash=SHA256 TRANSACTION` run against an empty archive
 * directory: one `'URI' FILE SIZE SHA256:HEX` line per .deb of the transaction, the list of packages to
 * remove, and the summary line. Throws when the summary is missing (apt's output format changed).
 */
export function parseAptPrintUris(stdout: string): AptPlan {
  const downloads: PlannedDownload[] = [];
  const removed: string[] = [];
  let inRemoved = false;
  for (const line of stdout.split("\n")) {
    const uri = URI_LINE.exec(line);
    if (uri) {
      const hash = /^SHA256:([0-9a-f]{64})$/i.exec(uri[4] ?? "");
      downloads.push({ uri: uri[1]!, file: uri[2]!, size: Number(uri[3]), ...(hash ? { sha256: hash[1]!.toLowerCase() } : {}) });
      continue;
    }
    if (/^The following packages? will be REMOVED:/.test(line)) {
      inRemoved = true;
      continue;
    }
    if (inRemoved && /^\s+\S/.test(line)) {
      removed.push(
        ...line
          .trim()
          .split(/\s+/)
          .map((n) => n.replace(/\*$/, "")),
      );
      continue;
    }
    inRemoved = false;
  }
  const summary = SUMMARY.exec(stdout);
  if (!summary) throw new Error("apt-get --print-uris printed no 'N upgraded, N newly installed' summary");
  const upgraded = Number(summary[1]);
  const newlyInstalled = Number(summary[2]);
  // "N reinstalled, " and "N downgraded, " appear only when there are such packages
  const otherChanged = [...(summary[3] ?? "").matchAll(/(\d+) [a-z]+, /g)].reduce((n, m) => n + Number(m[1]), 0);
  const toRemove = Number(summary[4]);
  return {
    downloads,
    removed: removed.sort(),
    upgraded,
    newlyInstalled,
    otherChanged,
    toRemove,
    nothingToDo: upgraded + newlyInstalled + otherChanged + toRemove === 0,
  };
}

/**
 * The layer key of a planned transaction, or undefined when it cannot be identified exactly (a .deb
 * without a SHA256, or a transaction whose package count and .debs disagree, such as local files).
 */
export function depsLayerKey(plan: AptPlan): string | undefined {
  if (plan.nothingToDo) return undefined;
  if (plan.downloads.some((d) => !d.sha256)) return undefined;
  if (plan.downloads.length !== plan.upgraded + plan.newlyInstalled + plan.otherChanged) return undefined;
  if (plan.removed.length !== plan.toRemove) return undefined;
  const debs = plan.downloads.map((d) => `${d.file} ${d.size} ${d.sha256}`).sort();
  return createHash("sha256")
    .update(JSON.stringify({ format: LAYER_FORMAT, debs, removed: plan.removed }))
    .digest("hex");
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The planned .debs that the shared archive does not hold with the right size and SHA256. */
export async function missingDownloads(archives: string, downloads: readonly PlannedDownload[]): Promise<PlannedDownload[]> {
  const missing: PlannedDownload[] = [];
  for (const d of downloads) {
    const path = join(archives, d.file);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile() || info.size !== d.size || !d.sha256 || (await sha256OfFile(path)) !== d.sha256) missing.push(d);
  }
  return missing;
}

/** Every entry below `dir` that is not a directory (files, symlinks, overlay whiteouts), as relative paths. */
export async function listNonDirectories(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(join(dir, prefix), { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return out;
    throw error;
  }
  for (const entry of entries) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listNonDirectories(dir, rel)));
    else out.push(rel);
  }
  return out;
}

/** Create `to/rel`'s parent directories with the owner, mode and times of the same directories in `from`. */
async function mirrorParents(from: string, to: string, rel: string): Promise<void> {
  const parts = dirname(rel)
    .split("/")
    .filter((p) => p && p !== ".");
  let path = "";
  for (const part of parts) {
    path = path ? `${path}/${part}` : part;
    const target = join(to, path);
    if (await lstat(target).catch(() => undefined)) continue;
    const source = await lstat(join(from, path));
    await mkdir(target);
    await chown(target, source.uid, source.gid);
    await chmod(target, source.mode & 0o7777);
    await utimes(target, source.atime, source.mtime);
  }
}

/**
 * Split a snapshot's upper directory after an apt transaction: the entries listed in `keepOnTop` (what
 * the upper held before the transaction: extra APT sources, their indexes and keys) move to a new empty
 * upper; everything else stays in `layer`, which becomes a lower layer. apt's binary caches are dropped
 * from the layer (they describe this snapshot's package lists, and apt rebuilds stale ones).
 */
export async function splitUpper(upper: string, work: string, layer: string, keepOnTop: readonly string[]): Promise<void> {
  await rename(upper, layer);
  await rm(work, { recursive: true, force: true });
  await mkdir(upper);
  await mkdir(work);
  const top = await lstat(layer);
  await chown(upper, top.uid, top.gid);
  await chmod(upper, top.mode & 0o7777);
  // the overlay's work directory belongs to the same owner (the environment's root)
  await chown(work, top.uid, top.gid);
  for (const rel of keepOnTop) {
    if (!(await lstat(join(layer, rel)).catch(() => undefined))) continue;
    await mirrorParents(layer, upper, rel);
    await rename(join(layer, rel), join(upper, rel));
  }
  for (const name of ["pkgcache.bin", "srcpkgcache.bin"]) await rm(join(layer, "var/cache/apt", name), { force: true });
}

export interface LayerMeta {
  createdAt: string;
  key: string;
  debs: string[];
  removed: string[];
  /** SHA256 of the layer's manifest lines (layer-manifest.ts): its entries, owners, modes and file hashes. */
  digest: string;
}

/** Write meta.json (atomically: a layer whose meta.json exists is complete). */
export async function writeLayerMeta(dir: string, key: string, plan: AptPlan, digest: string): Promise<void> {
  const meta: LayerMeta = {
    createdAt: new Date().toISOString(),
    key,
    debs: plan.downloads.map((d) => d.file).sort(),
    removed: plan.removed,
    digest,
  };
  await writeFileAtomic(join(dir, "meta.json"), `${JSON.stringify(meta, null, 2)}\n`);
}

/** The digest meta.json records, or undefined when it is unreadable or records none. */
export async function readLayerDigest(dir: string): Promise<string | undefined> {
  try {
    const meta = JSON.parse(await readFile(join(dir, "meta.json"), "utf8")) as Partial<LayerMeta>;
    return typeof meta.digest === "string" && /^[0-9a-f]{64}$/.test(meta.digest) ? meta.digest : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a snapshot's upper directory may hold when a layer is made in it: the extra repositories'
 * sources, keys and package lists, and apt's caches (written by deb-mock's own steps: addExtraRepos and
 * apt's planning run). Anything else means a command changed the snapshot before the installation, and
 * a layer made over it would carry that change to other builds.
 */
const FRESH_UPPER_PATHS = ["etc/apt/sources.list.d/deb-mock-extra.list", "etc/apt/deb-mock-keys", "var/lib/apt/lists", "var/cache/apt"];

/** The entries of `upper` (directories too) that a fresh snapshot's upper does not hold (see FRESH_UPPER_PATHS). */
export async function entriesBeyondFresh(upper: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(upper, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (FRESH_UPPER_PATHS.some((p) => rel === p || rel.startsWith(`${p}/`))) continue;
    const ancestor = FRESH_UPPER_PATHS.some((p) => p.startsWith(`${rel}/`));
    if (ancestor && entry.isDirectory()) out.push(...(await entriesBeyondFresh(upper, rel)));
    else out.push(rel);
  }
  return out;
}

/**
 * The planned downloads that are refused: a URI not below one of `sourceUris` (the configured sources:
 * the profile's mirror and extraSources, the build's extra repositories), or a file name that is not a
 * plain .deb name. apt plans in the snapshot, whose configuration an installed package may have changed;
 * the download step runs with the host's network, fetches only from the configured sources, and writes
 * only into the shared archive.
 */
export function unsafeDownloads(downloads: readonly PlannedDownload[], sourceUris: readonly string[]): PlannedDownload[] {
  const bases = sourceUris.map((uri) => `${uri.replace(/\/+$/, "")}/`);
  const inSources = (uri: string) => bases.some((base) => uri.startsWith(base)) && !/\/\.\.?(\/|$)|[\s'"\\]/.test(uri);
  return downloads.filter((d) => !inSources(d.uri) || !/^[\w.+~%-]+\.deb$/.test(d.file) || d.file.startsWith("."));
}

/** The URI of each one-line APT source (`deb [options] URI SUITE [COMPONENT...]`). */
export function sourceLineUris(lines: readonly string[]): string[] {
  return lines.flatMap((line) => {
    const match = /^deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line.trim());
    return match ? [match[1]!] : [];
  });
}

/** Mark a layer as used now (pruning removes the least recently used first). */
export async function touchLayer(dir: string): Promise<void> {
  const now = new Date();
  await utimes(join(dir, "meta.json"), now, now).catch(() => undefined);
}

/** Bump when what a plan memo holds changes, so old memos are not read. */
const PLAN_MEMO_FORMAT = 1;

/**
 * Where apt's plan for `args` over a base generation and an index generation is remembered. apt plans
 * deterministically from its inputs: the base generation (immutable: the installed packages and apt's
 * configuration), the index generation (immutable: the package lists) and the command line. So while
 * neither generation changes, the plan of an earlier run of the same transaction is the plan, and the
 * planning run (a sandbox and apt resolving, most of a warm runroot's time) can be skipped.
 */
export function planMemoPath(generationDir: string, indexDir: string, args: readonly string[]): string {
  const name = createHash("sha256")
    .update(JSON.stringify({ format: PLAN_MEMO_FORMAT, layer: LAYER_FORMAT, args }))
    .digest("hex");
  return join(generationDir, "plans", basename(indexDir), `${name}.json`);
}

interface PlanMemo {
  format: number;
  args: string[];
  plan: AptPlan;
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

/** The plan in a memo's text, or undefined when it is not a memo of this format for exactly `args`. */
export function parsePlanMemo(text: string, args: readonly string[]): AptPlan | undefined {
  let memo: Partial<PlanMemo>;
  try {
    memo = JSON.parse(text) as Partial<PlanMemo>;
  } catch {
    return undefined;
  }
  if (memo?.format !== PLAN_MEMO_FORMAT || JSON.stringify(memo.args) !== JSON.stringify(args)) return undefined;
  const plan = memo.plan;
  if (!plan || !Array.isArray(plan.downloads) || !Array.isArray(plan.removed)) return undefined;
  if (![plan.upgraded, plan.newlyInstalled, plan.otherChanged, plan.toRemove].every(isCount)) return undefined;
  if (typeof plan.nothingToDo !== "boolean" || !plan.removed.every((r) => typeof r === "string")) return undefined;
  const downloadOk = (d: PlannedDownload) =>
    typeof d?.uri === "string" &&
    typeof d.file === "string" &&
    isCount(d.size) &&
    (d.sha256 === undefined || /^[0-9a-f]{64}$/.test(d.sha256));
  if (!plan.downloads.every(downloadOk)) return undefined;
  return plan;
}

export async function readPlanMemo(path: string, args: readonly string[]): Promise<AptPlan | undefined> {
  const text = await readFile(path, "utf8").catch(() => undefined);
  return text === undefined ? undefined : parsePlanMemo(text, args);
}

/**
 * Remember a plan (atomically: readers see the whole memo or none). Memos of other index generations of
 * this base generation are removed: a refreshed index makes them useless.
 */
export async function writePlanMemo(path: string, args: readonly string[], plan: AptPlan): Promise<void> {
  const indexDir = dirname(path);
  await mkdir(indexDir, { recursive: true });
  const memo: PlanMemo = { format: PLAN_MEMO_FORMAT, args: [...args], plan };
  await writeFileAtomic(path, `${JSON.stringify(memo)}\n`);
  const plans = dirname(indexDir);
  for (const entry of await readdir(plans).catch(() => [])) {
    if (entry !== basename(indexDir)) await rm(join(plans, entry), { recursive: true, force: true });
  }
}

/**
 * Whether a snapshot's upper directory leaves apt's inputs as the base and index layers have them: no
 * APT configuration or sources (extra repositories), package lists or dpkg database of its own.
 */
export async function aptInputsUntouched(upper: string): Promise<boolean> {
  for (const rel of ["etc/apt", "var/lib/apt", "var/lib/dpkg"]) {
    if (await lstat(join(upper, rel)).catch(() => undefined)) return false;
  }
  return true;
}
