import { appendFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isCodedError, type Logger, quoteForLog, type RunResult } from "@debian-bootc/core";
import { baseIdentity, type EnvContext, ensureBase, ensureIndex, type GenerationInfo, pruneGenerations } from "./base-cache.js";
import { CacheLayout } from "./cache-layout.js";
import { debMockError } from "./errors.js";
import type { ProgressListener } from "./events.js";
import { withLock } from "./lock.js";
import { type Profile, parseDuration } from "./profile-schema.js";
import { DEFAULT_PROFILE, loadProfile, resolveMirror } from "./profiles.js";
import { type BindMount, runSandboxed, runSandboxedInteractive, type SandboxSpec } from "./sandbox.js";
import { cleanStaleSnapshots, createSnapshot, destroySnapshot, openSnapshot, type Snapshot, setSnapshotKeep } from "./snapshot.js";

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

export interface RunInSnapshotOptions {
  /** root (default) or the profile's unprivileged build user. */
  user?: "root" | "builder";
  network?: boolean;
  binds?: readonly BindMount[];
  cwd?: string;
  env?: Readonly<Record<string, string>>;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  captureStdout?: boolean;
  okCodes?: number[];
  timeoutMs?: number;
  input?: string;
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

  private constructor(
    readonly profile: Profile,
    readonly layout: CacheLayout,
    readonly ctx: EnvContext,
    readonly base: GenerationInfo,
    readonly index: GenerationInfo,
    readonly snapshot: Snapshot,
  ) {}

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
      const result = await runSandboxed(this.spec(command, options), {
        signal: this.ctx.signal,
        logger: this.ctx.logger,
        onStdout: options.onStdout,
        onStderr: options.onStderr,
        captureStdout: options.captureStdout,
        okCodes: options.okCodes,
        timeoutMs: options.timeoutMs,
        input: options.input,
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

  /** Write extra APT sources into the snapshot and update only their indexes (the cached index stays). */
  async addExtraRepos(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    for (const line of lines) {
      if (!/^deb(-src)?\s+(\[[^\]]*\]\s+)?\S+\s+\S+(\s+\S+)*$/.test(line.trim())) {
        throw debMockError(
          "BUILD_INPUT_INVALID",
          `--extra-repo '${line}': expected a one-line APT source: deb [options] URI SUITE [COMPONENT...]`,
        );
      }
    }
    const dir = join(this.snapshot.root.upper, "etc/apt/sources.list.d");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "deb-mock-extra.list"), `${lines.map((l) => l.trim()).join("\n")}\n`);
    await this.run(
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
  }

  /**
   * Run an apt-get transaction (install, satisfy) with the shared APT archive: the download happens under
   * the archive lock, the installation after it is released, so parallel builds wait only for downloads.
   */
  async apt(args: readonly string[], options: { network?: boolean } = {}): Promise<RunResult> {
    const archives = this.layout.aptArchives;
    await mkdir(join(archives, "partial"), { recursive: true });
    const binds: BindMount[] = [{ source: archives, target: "/var/cache/apt/archives" }];
    const common = ["-y", "-q", "-o", "Debug::pkgProblemResolver=yes"];
    const network = options.network ?? true;
    const lockOptions = {
      timeoutMs: parseDuration(this.profile.cache.lockTimeout),
      signal: this.ctx.signal,
      what: "the shared APT archive",
    };
    const onOutput = (c: Buffer) => this.log(c.toString("utf8").trimEnd());
    const download = await withLock(this.layout.lock("apt-archives"), lockOptions, () =>
      this.run(["apt-get", ...common, "--download-only", ...args], { network, binds, onStdout: onOutput, onStderr: onOutput }),
    );
    // nothing to install or remove: skip the second apt run (about a second of dependency resolution)
    if (/^0 upgraded, 0 newly installed, 0 to remove\b/m.test(download.stdout)) return download;
    // packages are all in the archive now; apt's own lock on it is not wanted (other builds may download)
    return this.run(["apt-get", ...common, "-o", "Debug::NoLocking=true", ...args], {
      network: false,
      binds,
      onStdout: onOutput,
      onStderr: onOutput,
    });
  }

  /** `name version architecture` of every installed package, one per line (installed-packages.log). */
  async installedPackages(): Promise<string> {
    const format = ["Package", "Version", "Architecture"].map((f) => `\${${f}}`).join(" ");
    const { stdout } = await this.run(["dpkg-query", "--show", `--showformat=${format}\\n`]);
    return stdout
      .split("\n")
      .filter((l) => l.trim())
      .sort()
      .join("\n")
      .concat("\n");
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
