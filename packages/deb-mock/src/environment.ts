import { existsSync } from "node:fs";
import { appendFile, chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { CodedError, isCodedError, type Logger, quoteForLog, type RunResult, withLock } from "@debian-bootc/core";
import {
  baseIdentity,
  type EnvContext,
  ensureBase,
  ensureIndex,
  type GenerationInfo,
  pruneGenerations,
  sourcesList,
} from "./base-cache.js";
import { CacheLayout, LOCK_HINT } from "./cache-layout.js";
import {
  type AptPlan,
  aptInputsUntouched,
  depsLayerKey,
  entriesBeyondFresh,
  listNonDirectories,
  missingDownloads,
  type PlannedDownload,
  parseAptPrintUris,
  planMemoPath,
  readLayerDigest,
  readPlanMemo,
  sourceLineUris,
  splitUpper,
  touchLayer,
  unsafeDownloads,
  writeLayerMeta,
  writePlanMemo,
} from "./deps-layer.js";
import { debMockError } from "./errors.js";
import type { ProgressListener } from "./events.js";
import { planExtraRepos } from "./extra-repos.js";
import { checkLayerManifest, writeLayerManifest } from "./layer-manifest.js";
import { type Profile, parseDuration } from "./profile-schema.js";
import { DEFAULT_PROFILE, loadProfile, resolveMirror } from "./profiles.js";
import { makeRangeDirs, makeReachable } from "./range-fs.js";
import type { InstalledPackage } from "./result.js";
import { type BindMount, runSandboxed, runSandboxedInteractive, type SandboxRunOptions, type SandboxSpec } from "./sandbox.js";
import {
  cleanStaleSnapshots,
  createSnapshot,
  destroySnapshot,
  openSnapshot,
  pushSnapshotLower,
  type Snapshot,
  setSnapshotKeep,
} from "./snapshot.js";

// stdin to /etc/apt/sources.list.d/deb-mock-extra.list; then pairs of arguments: a key file, its place
const INSTALL_EXTRA_SOURCES_SCRIPT = `set -eu
cat >/etc/apt/sources.list.d/deb-mock-extra.list
while [ $# -gt 1 ]; do install -D -m 0644 "$1" "$2"; shift 2; done`;

// Triples of arguments: a .deb's URI, its file name in the archive, its SHA256. apt's own downloader
// (apt-helper, the base's methods, as _apt where it can) fetches each into partial/ and checks the hash.
const DOWNLOAD_SCRIPT = `set -eu
cd /var/cache/apt/archives
while [ $# -ge 3 ]; do
  rm -f "partial/$2"
  /usr/lib/apt/apt-helper download-file "$1" "partial/$2" "SHA256:$3"
  mv -f "partial/$2" "$2"
  shift 3
done`;

/** Where the host side of a snapshot records the extra repositories' source lines (out of the sandbox's reach). */
const EXTRA_SOURCES_RECORD = "extra-sources.json";

/** What `Environment.apt` did: the planned transaction, and whether a build-dependency layer was used. */
export interface AptOutcome {
  /** Absent when apt's plan could not be read (the transaction then ran as planned by apt alone). */
  plan?: AptPlan;
  /** none: installed in the snapshot (or nothing to do); created: installed and saved as a layer; reused. */
  layer: "none" | "created" | "reused";
  key?: string;
  /** The layer directory stacked under the snapshot (created or reused). */
  layerDir?: string;
  /** The plan was remembered from an earlier run over the same base and index generations (apt did not run). */
  planFromMemo?: boolean;
}

/** How deb-mock finds its profile and cache; shared by every library entry point. */
export interface ProfileSelection {
  /** A profile name (default debian-trixie-amd64) or an already loaded profile. */
  profile?: string | Profile;
  /** `KEY=VALUE` overrides applied on top of the profile's layers. */
  configOpts?: readonly string[];
  /** Configuration directories, lowest precedence first (default: shipped, /etc/deb-mock, XDG). */
  configDirs?: readonly string[];
}

export interface CommonOptions extends ProfileSelection {
  logger?: Logger;
  signal?: AbortSignal;
  onEvent?: ProgressListener;
}

export async function resolveProfile(selection: ProfileSelection): Promise<Profile> {
  if (typeof selection.profile === "object") return selection.profile;
  const { profile } = await loadProfile(selection.profile ?? DEFAULT_PROFILE, {
    configDirs: selection.configDirs,
    configOpts: selection.configOpts,
  });
  return profile;
}

/** Where and how a command runs in the snapshot, plus the sandbox's run options (the environment gives its own signal and logger). */
export interface RunInSnapshotOptions extends Omit<SandboxRunOptions, "signal" | "logger"> {
  /** root (default) or the profile's unprivileged build user. */
  user?: "root" | "builder";
  network?: boolean;
  binds?: readonly BindMount[];
  cwd?: string;
  env?: Readonly<Record<string, string>>;
}

export interface OpenOptions extends CommonOptions {
  /** Keep the snapshot after dispose (for --no-clean, `shell` on it later). */
  keep?: boolean;
  /** Re-open this kept snapshot instead of making a new one. */
  snapshotId?: string;
  purpose?: string;
  /** Do not create a missing base (status-like callers). */
  noCreate?: boolean;
}

/**
 * One snapshot of a profile's cached base, ready to run commands in. `Environment.open` makes sure the
 * base and the package index exist and are young enough, cleans what killed runs left, and creates the
 * snapshot (milliseconds); `dispose` removes it.
 */
export class Environment {
  readonly rootLogLines: string[] = [];
  private disposed = false;
  /** The base has eatmydata (bases made before deb-mock added it do not). */
  private readonly eatmydata: boolean;

  private constructor(
    readonly profile: Profile,
    readonly layout: CacheLayout,
    readonly ctx: EnvContext,
    readonly base: GenerationInfo,
    readonly index: GenerationInfo,
    readonly snapshot: Snapshot,
  ) {
    this.eatmydata = existsSync(join(base.dir, "rootfs/usr/bin/eatmydata"));
  }

  static async prepare(options: CommonOptions & { noCreate?: boolean; forceBase?: boolean; forceIndex?: boolean }) {
    const profile = await resolveProfile(options);
    const layout = new CacheLayout(profile.cache.root);
    const mirror = await resolveMirror(profile);
    const identity = await baseIdentity(profile, mirror);
    const rootLogLines: string[] = [];
    const ctx: EnvContext = {
      profile,
      layout,
      identity,
      logger: options.logger,
      signal: options.signal,
      onEvent: options.onEvent,
      rootLog: (line) => {
        rootLogLines.push(`${new Date().toISOString()} ${line}`);
        options.onEvent?.({ type: "root-log", text: line });
      },
    };
    await mkdir(layout.snapshotsDir, { recursive: true });
    await makeReachable(layout.root);
    await cleanStaleSnapshots(layout);
    const base = await ensureBase(ctx, { noCreate: options.noCreate, force: options.forceBase });
    const index = await ensureIndex(ctx, base, { force: options.forceIndex });
    return { profile, layout, identity, ctx, base, index, rootLogLines };
  }

  static async open(options: OpenOptions): Promise<Environment> {
    const prepared = await Environment.prepare(options);
    const { profile, layout, identity, ctx, base, index } = prepared;
    let snapshot: Snapshot;
    if (options.snapshotId) {
      snapshot = await openSnapshot(layout, options.snapshotId);
    } else {
      const lockOptions = {
        shared: true,
        timeoutMs: parseDuration(profile.cache.lockTimeout),
        hint: LOCK_HINT,
        signal: options.signal,
        what: "generation pruning",
      };
      snapshot = await withLock(layout.lock(`prune-${identity.key}`), lockOptions, () =>
        createSnapshot(layout, {
          key: identity.key,
          profile: profile.name,
          lower: [index.dir, join(base.dir, "rootfs")],
          purpose: options.purpose ?? "build",
          keep: options.keep,
          buildOwner: { uid: profile.buildUid, gid: profile.buildUid },
        }),
      );
    }
    const env = new Environment(profile, layout, ctx, base, index, snapshot);
    env.rootLogLines.push(...prepared.rootLogLines);
    ctx.rootLog = (line) => env.log(line);
    env.log(
      `snapshot ${snapshot.id}: overlay of ${snapshot.root.lower.join(" + ")} (upper ${snapshot.root.upper}); /build is ${snapshot.build}`,
    );
    return env;
  }

  get id(): string {
    return this.snapshot.id;
  }

  get environmentHash(): string {
    return this.ctx.identity.hash;
  }

  log(line: string): void {
    this.rootLogLines.push(`${new Date().toISOString()} ${line}`);
    this.ctx.onEvent?.({ type: "root-log", text: line });
  }

  private spec(command: readonly string[], options: RunInSnapshotOptions): SandboxSpec {
    const builder = options.user === "builder";
    return {
      root: this.snapshot.root,
      command,
      network: options.network ?? false,
      binds: [{ source: this.snapshot.build, target: "/build" }, ...(options.binds ?? [])],
      user: builder ? { uid: this.profile.buildUid, gid: this.profile.buildUid } : undefined,
      cwd: options.cwd ?? (builder ? "/build" : "/"),
      env: { HOME: builder ? "/build" : "/root", USER: builder ? this.profile.buildUser : "root", ...options.env },
    };
  }

  /** Run a command in the snapshot (network off unless asked); root.log records it. */
  async run(command: readonly string[], options: RunInSnapshotOptions = {}): Promise<RunResult> {
    this.log(`run as ${options.user ?? "root"}${options.network ? " with network" : ""}: ${command.map(quoteForLog).join(" ")}`);
    const started = Date.now();
    try {
      const { user, network, binds, cwd, env, ...runOptions } = options;
      const result = await runSandboxed(this.spec(command, { user, network, binds, cwd, env }), {
        ...runOptions,
        signal: this.ctx.signal,
        logger: this.ctx.logger,
      });
      this.log(`exit ${result.code} after ${Date.now() - started} ms`);
      return result;
    } catch (error) {
      this.log(`failed after ${Date.now() - started} ms: ${isCodedError(error) ? error.message.split("\n")[0] : String(error)}`);
      throw error;
    }
  }

  /** An interactive command on the caller's terminal (for `shell`). */
  async runInteractive(command: readonly string[], options: RunInSnapshotOptions = {}): Promise<number> {
    this.log(`interactive as ${options.user ?? "root"}: ${command.map(quoteForLog).join(" ")}`);
    return runSandboxedInteractive(this.spec(command, options), this.ctx.signal);
  }

  /**
   * Write extra APT sources into the snapshot and update only their indexes (the cached index stays).
   * Host key files named by `signed-by=` (and `extraKeys`, for lines naming no key) are copied into
   * /etc/apt/deb-mock-keys/ and the lines rewritten to point there.
   */
  async addExtraRepos(lines: readonly string[], extraKeys: readonly string[] = []): Promise<void> {
    if (lines.length === 0) return;
    const plan = await planExtraRepos(lines, extraKeys);
    // written by the environment's root, so that they are its files (the key files bound read-only)
    const keyBinds = plan.keys.map((key, i) => ({ source: key.host, target: `/tmp/deb-mock-keys/${i}`, readOnly: true }));
    await this.run(
      [
        "sh",
        "-c",
        INSTALL_EXTRA_SOURCES_SCRIPT,
        "deb-mock-extra-repos",
        ...plan.keys.flatMap((key, i) => [keyBinds[i]!.target, key.target]),
      ],
      { binds: keyBinds, input: `${plan.lines.join("\n")}\n` },
    );
    const record = join(this.snapshot.dir, EXTRA_SOURCES_RECORD);
    await writeFile(record, JSON.stringify([...(await this.extraSourceLines()), ...plan.lines]));
    for (const key of plan.keys) this.log(`extra repository key ${key.host} copied to ${key.target}`);
    for (const line of plan.lines) this.log(`extra repository: ${line}`);
    const update = () =>
      this.run(
        [
          "apt-get",
          "update",
          "-q",
          "-o",
          "Dir::Etc::SourceList=/etc/apt/sources.list.d/deb-mock-extra.list",
          "-o",
          "Dir::Etc::SourceParts=/nonexistent",
          "-o",
          "APT::Get::List-Cleanup=0",
        ],
        { network: true, onStdout: (c) => this.log(c.toString("utf8").trimEnd()) },
      );
    try {
      await update();
    } catch (error) {
      if (!isCodedError(error, "COMMAND_FAILED")) throw error;
      // the first line is the command; apt's warnings and errors follow
      const apt = error.message.slice(error.message.indexOf("\n") + 1).trim();
      throw debMockError("INDEX_UPDATE_FAILED", `apt-get update of the extra repositories failed: ${apt}`, {
        hint: "check each --extra-repo's URI and suite, and its key: signed-by=/host/key.asc or --extra-repo-key",
        cause: error,
      });
    }
  }

  /**
   * Run an apt-get transaction (install, satisfy) with the shared APT archive. First apt plans it without
   * network against an empty archive directory (`--print-uris`: every .deb with its SHA256); then, with
   * `layer`, a build-dependency layer holding exactly that transaction over this base generation is
   * stacked under the snapshot instead of installing. Otherwise the .debs the shared archive lacks are
   * downloaded under the archive lock, and the installation runs after the lock is released (so parallel
   * builds wait only for each other's downloads), without network, under eatmydata; with `layer` its
   * result becomes a new layer for later builds. With `layer`, over an untouched snapshot, the plan is
   * remembered per base and index generation, and a later identical transaction whose layer exists
   * skips apt altogether (see planMemoPath).
   */
  async apt(args: readonly string[], options: { network?: boolean; layer?: boolean } = {}): Promise<AptOutcome> {
    const layers = Boolean(options.layer) && this.profile.cache.buildDepsLayers > 0 && this.pristine();
    const memoPath =
      layers && (await aptInputsUntouched(this.snapshot.root.upper)) ? planMemoPath(this.base.dir, this.index.dir, args) : undefined;
    if (memoPath) {
      const remembered = await readPlanMemo(memoPath, args);
      const key = remembered && depsLayerKey(remembered);
      const layerDir = key && (await this.useDepsLayer(key));
      if (key && layerDir) {
        this.log(
          `apt's plan for ${args.map(quoteForLog).join(" ")} remembered from an earlier run over the same base and index (${memoPath})`,
        );
        return { plan: remembered, layer: "reused", key, layerDir, planFromMemo: true };
      }
    }
    const archives = this.layout.aptArchives;
    await makeRangeDirs(this.layout.root, [relative(this.layout.root, join(archives, "partial"))]);
    const binds: BindMount[] = [{ source: archives, target: "/var/cache/apt/archives" }];
    const common = ["-y", "-q", "-o", "Debug::pkgProblemResolver=yes"];
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    const network = options.network ?? true;
    const onOutput = (c: Buffer) => this.log(c.toString("utf8").trimEnd());
    const planArchive = join(this.snapshot.dir, "plan-archives");
    await makeRangeDirs(this.snapshot.dir, ["plan-archives/partial"]);
    // apt prints why it cannot satisfy something on stdout; the error of a failed run carries only stderr
    let planStdout = "";
    const planned = await this.run(["apt-get", ...common, "-o", "Acquire::ForceHash=SHA256", "--print-uris", ...args], {
      network: false,
      binds: [{ source: planArchive, target: "/var/cache/apt/archives" }],
      env,
      onStdout: (c) => {
        planStdout = (planStdout + c.toString("utf8")).slice(-65_536);
        onOutput(c);
      },
      onStderr: onOutput,
    }).catch((error: unknown) => {
      if (!isCodedError(error, "COMMAND_FAILED")) throw error;
      throw new CodedError(error.code, error.category, error.message, {
        cause: error,
        ...(error.hint === undefined ? {} : { hint: error.hint }),
        details: { ...error.details, stdout: planStdout },
      });
    });
    let plan: AptPlan | undefined;
    try {
      plan = parseAptPrintUris(planned.stdout);
    } catch (error) {
      this.log(`apt's plan is unreadable (${(error as Error).message}): installing without it`);
    }
    if (plan?.nothingToDo) return { plan, layer: "none" };
    let key = plan && layers ? depsLayerKey(plan) : undefined;
    if (key && plan && memoPath) await this.rememberPlan(memoPath, args, plan);
    const reused = key && (await this.useDepsLayer(key));
    if (key && reused) return { plan, layer: "reused", key, layerDir: reused };

    // file: URIs are read in place by the installation (local .debs deb-mock staged in /build/.debs)
    const remote = plan?.downloads.filter((d) => !d.uri.startsWith("file:"));
    const missing = remote ? await missingDownloads(archives, remote) : undefined;
    if (missing === undefined || missing.length > 0) {
      const lockOptions = {
        timeoutMs: parseDuration(this.profile.cache.lockTimeout),
        hint: LOCK_HINT,
        signal: this.ctx.signal,
        what: "the shared APT archive",
      };
      await withLock(this.layout.lock("range-apt-archives"), lockOptions, async () => {
        if (missing) return this.download(missing, network);
        // no plan to download from: only a snapshot no package has touched may download for itself
        if (!this.pristine()) {
          throw debMockError("APT_DOWNLOAD_REFUSED", `apt printed no plan for ${args.map(quoteForLog).join(" ")} in a changed snapshot`);
        }
        await this.run(["apt-get", ...common, "--download-only", ...args], { network, binds, env, onStdout: onOutput, onStderr: onOutput });
      });
    } else this.log(`all ${remote?.length} .debs to download are in the shared APT archive`);
    if (key) {
      // a layer is made only over a snapshot that nothing but deb-mock's own steps changed
      const beyond = await entriesBeyondFresh(this.snapshot.root.upper);
      if (beyond.length) {
        this.log(`no build-dependency layer: the snapshot was changed before the installation (${beyond.slice(0, 5).join(", ")})`);
        key = undefined;
      }
    }
    const beforeInstall = key ? await listNonDirectories(this.snapshot.root.upper) : [];
    // A layer is shared by every later build with the same .debs: its maintainer scripts must see nothing
    // of this build (an empty, read-only /build instead of the build's sources), so that what they leave
    // in the layer depends on the .debs alone.
    const layerBinds: BindMount[] = [];
    if (key) {
      await makeRangeDirs(this.snapshot.dir, ["empty"]);
      layerBinds.push({ source: join(this.snapshot.dir, "empty"), target: "/build", readOnly: true });
    }
    // the packages are all in the archive now; apt's own lock on it is not wanted (other builds may download)
    await this.run([...(this.eatmydata ? ["eatmydata"] : []), "apt-get", ...common, "-o", "Debug::NoLocking=true", ...args], {
      network: false,
      binds: [...binds, ...layerBinds],
      env,
      onStdout: onOutput,
      onStderr: onOutput,
    });
    if (!key || !plan) return { plan, layer: "none" };
    const layerDir = await this.saveDepsLayer(key, plan, beforeInstall);
    return { plan, layer: "created", key, layerDir };
  }

  /**
   * Download planned .debs into the shared archive (under its lock) in a fresh snapshot of the base and
   * index: with the host's network (unless `network` is false) but only the base's apt, never a program
   * or configuration a package installed in this snapshot; and only from the configured sources.
   */
  private async download(downloads: readonly PlannedDownload[], network: boolean): Promise<void> {
    const sources = sourceLineUris([...sourcesList(this.profile, this.ctx.identity.mirror), ...(await this.extraSourceLines())]);
    const refused = unsafeDownloads(downloads, sources);
    const unhashed = downloads.filter((d) => !d.sha256);
    if (refused.length || unhashed.length) {
      const what = [...refused, ...unhashed].map((d) => `${d.file} from ${d.uri}`).join(", ");
      throw debMockError("APT_DOWNLOAD_REFUSED", `apt planned downloads deb-mock does not fetch: ${what}`, {
        hint: "only .debs with a SHA256 from the profile's mirror, its extraSources and the --extra-repo sources are downloaded",
      });
    }
    const snapshot = await withLock(this.layout.lock(`prune-${this.ctx.identity.key}`), this.pruneLockOptions(), () =>
      createSnapshot(this.layout, {
        key: this.ctx.identity.key,
        profile: this.profile.name,
        lower: [this.index.dir, join(this.base.dir, "rootfs")],
        purpose: "download",
      }),
    );
    this.log(`downloading ${downloads.length} .debs in snapshot ${snapshot.id} (the base's apt only)`);
    const onOutput = (c: Buffer) => this.log(c.toString("utf8").trimEnd());
    try {
      await runSandboxed(
        {
          root: snapshot.root,
          command: ["sh", "-c", DOWNLOAD_SCRIPT, "deb-mock-download", ...downloads.flatMap((d) => [d.uri, d.file, d.sha256!])],
          network,
          binds: [{ source: this.layout.aptArchives, target: "/var/cache/apt/archives" }],
          cwd: "/",
          env: { HOME: "/root", USER: "root" },
        },
        { signal: this.ctx.signal, logger: this.ctx.logger, onStdout: onOutput, onStderr: onOutput },
      );
    } finally {
      await destroySnapshot(this.layout, snapshot.id);
    }
  }

  /** The extra repositories' source lines added to this snapshot (by this or an earlier deb-mock run). */
  private async extraSourceLines(): Promise<string[]> {
    const text = await readFile(join(this.snapshot.dir, EXTRA_SOURCES_RECORD), "utf8").catch(() => "[]");
    const lines = JSON.parse(text) as unknown;
    return Array.isArray(lines) ? lines.filter((l): l is string => typeof l === "string") : [];
  }

  /** Keep a plan for later identical transactions; failing to is no reason to fail this one. */
  private async rememberPlan(path: string, args: readonly string[], plan: AptPlan): Promise<void> {
    try {
      await writePlanMemo(path, args, plan);
    } catch (error) {
      this.log(`apt's plan not remembered (${(error as Error).message})`);
    }
  }

  /** No package was installed in this snapshot yet (a layer describes a transaction over the bare base). */
  private pristine(): boolean {
    return this.snapshot.root.lower.length === 2 && !existsSync(join(this.snapshot.root.upper, "var/lib/dpkg/status"));
  }

  private depsDir(): string {
    return join(this.base.dir, "deps");
  }

  /** Stack the layer `key` under the snapshot when it exists (under the shared prune lock); its directory. */
  private async useDepsLayer(key: string): Promise<string | undefined> {
    const dir = join(this.depsDir(), key);
    if (!existsSync(join(dir, "meta.json"))) return undefined;
    return withLock(this.layout.lock(`prune-${this.ctx.identity.key}`), this.pruneLockOptions(), async () => {
      // again under the lock: pruning may have removed it meanwhile
      if (!existsSync(join(dir, "meta.json"))) return undefined;
      const layer = join(dir, "layer");
      const problem = await checkLayerManifest(layer, join(dir, "manifest"), await readLayerDigest(dir));
      if (problem) {
        // out of the way (pruning removes dot-directories); a new layer is made in its place
        const aside = join(this.depsDir(), `.refused-${key}-${process.pid}-${Date.now()}`);
        await rename(dir, aside).catch(() => undefined);
        this.log(`build-dependency layer ${key.slice(0, 16)} refused: ${problem}; moved to ${aside}`);
        return undefined;
      }
      await pushSnapshotLower(this.snapshot, layer);
      await touchLayer(dir);
      this.log(`build-dependency layer ${key.slice(0, 16)} reused (${dir}): nothing to install`);
      this.ctx.onEvent?.({ type: "deps-layer", key, dir: layer, action: "reused" });
      return layer;
    });
  }

  /**
   * Turn what the installation added to the snapshot into the layer `key`: the upper directory becomes
   * the layer (a rename), the files that were there before the installation move to a new upper.
   */
  private async saveDepsLayer(key: string, plan: AptPlan, beforeInstall: readonly string[]): Promise<string> {
    const { upper, work } = this.snapshot.root;
    const privateLayer = join(this.snapshot.dir, "deps-layer");
    await splitUpper(upper, work, privateLayer, beforeInstall);
    const final = join(this.depsDir(), key);
    // under the prune lock until owner.json names the layer, so that pruning cannot take it meanwhile
    const used = await withLock(this.layout.lock(`prune-${this.ctx.identity.key}`), this.pruneLockOptions(), async () => {
      const publish = async (): Promise<string> => {
        if (existsSync(final)) return privateLayer; // another build made the same layer meanwhile: keep ours private
        // a temporary of its own: two calls of one process may publish the same key at once
        await mkdir(this.depsDir(), { recursive: true });
        const temp = await mkdtemp(join(this.depsDir(), `.${key}.tmp-`));
        await chmod(temp, 0o755); // the environments' root (a range uid) passes through it once it is the layer's directory
        await rename(privateLayer, join(temp, "layer"));
        // recorded after the layer's last rename (which sets its directory's change time), before meta.json
        const digest = await writeLayerManifest(join(temp, "layer"), join(temp, "manifest"));
        await writeLayerMeta(temp, key, plan, digest);
        try {
          await rename(temp, final);
        } catch (error) {
          await rename(join(temp, "layer"), privateLayer);
          await rm(temp, { recursive: true, force: true });
          if (!["EEXIST", "ENOTEMPTY"].includes((error as NodeJS.ErrnoException).code ?? "")) throw error;
          return privateLayer;
        }
        return join(final, "layer");
      };
      const layer = await publish();
      await pushSnapshotLower(this.snapshot, layer);
      return layer;
    });
    this.log(`build-dependency layer ${key.slice(0, 16)} saved: ${used}`);
    this.ctx.onEvent?.({ type: "deps-layer", key, dir: used, action: "created" });
    return used;
  }

  private pruneLockOptions() {
    return {
      shared: true,
      timeoutMs: parseDuration(this.profile.cache.lockTimeout),
      hint: LOCK_HINT,
      signal: this.ctx.signal,
      what: "generation pruning",
    };
  }

  /** Every installed package, sorted as installed-packages.log lists them (`name version architecture`). */
  async installedPackages(): Promise<InstalledPackage[]> {
    const format = ["Package", "Version", "Architecture"].map((f) => `\${${f}}`).join(" ");
    const { stdout } = await this.run(["dpkg-query", "--show", `--showformat=${format}\\n`]);
    return stdout
      .split("\n")
      .filter((l) => l.trim())
      .sort()
      .map((line) => {
        const [name = "", version = "", arch = ""] = line.split(" ");
        return { name, version, arch };
      });
  }

  async appendLog(name: string, text: string): Promise<void> {
    await appendFile(join(this.snapshot.logs, name), text);
  }

  /** Remove the snapshot (unless kept) and prune unused base generations. Safe to call twice. */
  async dispose(options: { keep?: boolean } = {}): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (options.keep || this.snapshot.owner.keep) {
      await setSnapshotKeep(this.snapshot, true);
      this.log(`snapshot ${this.snapshot.id} kept at ${this.snapshot.dir}`);
      return;
    }
    await destroySnapshot(this.layout, this.snapshot.id);
    try {
      await pruneGenerations({ ...this.ctx, signal: undefined });
    } catch {
      // pruning is housekeeping; a lock held elsewhere just means it happens next time
    }
  }
}
