import { lstat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { isCodedError, type RunResult } from "@debian-bootc/core";
import { type CommonOptions, Environment } from "./environment.js";
import { debMockError } from "./errors.js";
import { idRange, RANGE_SIZE } from "./id-range.js";
import { assertReachableAbove, copyIntoRange, makeRangeDirs, shiftTree } from "./range-fs.js";
import type { BindMount } from "./sandbox.js";

export interface RunInEnvironmentOptions extends CommonOptions {
  /** Commands run one after another (argv arrays); the first failure stops the run. */
  commands: ReadonlyArray<readonly string[]>;
  /**
   * Packages installed first: archive package names (`ostree`, `foo=1.2-3`) or absolute host paths of
   * .deb files. Installation always has network; it uses the shared APT archive.
   */
  packages?: readonly string[];
  /**
   * Host directories bind-mounted into the environment (e.g. a compose's work directory). Their owners
   * are shifted into the id range while the commands run and back afterwards (shiftTree; a tree the
   * range already owns is left as it is), so the
   * commands see and write the trees' own owners (root is 0; an ordinary caller's files are root's)
   * without any of them holding a capability on the host; what they write belongs to the caller.
   */
  binds?: readonly BindMount[];
  /** Network for the commands (default false: an empty network namespace). */
  network?: boolean;
  /** Run the commands as the profile's unprivileged build user instead of root. */
  user?: "root" | "builder";
  cwd?: string;
  env?: Readonly<Record<string, string>>;
  /** Extra APT sources (one-line format) for the package installation. */
  extraRepos?: readonly string[];
  /** Key files (host paths) for the extra sources that name no `signed-by`; see BuildOptions. */
  extraRepoKeys?: readonly string[];
  /** Keep the snapshot afterwards. */
  keep?: boolean;
  /** Run in this kept snapshot instead of a fresh one. */
  snapshotId?: string;
  /** Output of the commands as it arrives. */
  onOutput?: (chunk: Buffer, stream: "stdout" | "stderr") => void;
  timeoutMs?: number;
}

export interface RunInEnvironmentResult {
  snapshot: string;
  /** One entry per command that ran (stdout captured; stderr's tail). */
  results: RunResult[];
  /** What was done to the environment (the root.log lines). */
  rootLog: string[];
  /**
   * The layer that holds `packages` (archive packages only): reused, or created by this call for the
   * next ones. Absent when nothing was installed or the installation cannot be identified exactly.
   */
  packagesLayer?: { key: string; dir: string; reused: boolean; planFromMemo: boolean };
}

/**
 * A "runroot": run commands in a fresh snapshot of a profile's base, after installing the given packages,
 * with the given bind mounts and network policy. The snapshot is discarded afterwards (unless `keep`).
 * Archive packages are installed once per exact set of .debs into a cached layer (the build-dependency
 * layers' mechanism, Environment.apt); later calls stack that layer under their snapshot instead.
 * A command that exits non-zero rejects with COMMAND_FAILED_IN_ENV (category build-failed) whose
 * details carry the exit code and the index of the command.
 */
export async function runInEnvironment(options: RunInEnvironmentOptions): Promise<RunInEnvironmentResult> {
  const env = await Environment.open({ ...options, purpose: "runroot" });
  try {
    const packages = options.packages ?? [];
    let packagesLayer: RunInEnvironmentResult["packagesLayer"];
    if (options.extraRepos?.length) await env.addExtraRepos(options.extraRepos, options.extraRepoKeys);
    if (packages.length) {
      const args: string[] = [];
      for (const pkg of packages) {
        if (pkg.startsWith("/")) {
          if (!pkg.endsWith(".deb")) throw debMockError("BUILD_INPUT_INVALID", `${pkg}: expected a .deb file`);
          args.push(await stageLocalDeb(env, pkg));
        } else args.push(pkg);
      }
      try {
        // archive packages only: a local .deb is not identified by the layer key
        const outcome = await env.apt(["install", ...args], { layer: packages.every((p) => !p.startsWith("/")) });
        if (outcome.key && outcome.layerDir) {
          packagesLayer = {
            key: outcome.key,
            dir: outcome.layerDir,
            reused: outcome.layer === "reused",
            planFromMemo: outcome.planFromMemo ?? false,
          };
        }
      } catch (error) {
        if (isCodedError(error, "COMMAND_FAILED")) {
          throw debMockError("DEPENDENCIES_UNSATISFIABLE", `installing ${packages.join(", ")} failed: ${error.message}`, { cause: error });
        }
        throw error;
      }
    }
    const results: RunResult[] = [];
    const shifted = await bindsToShift(options.binds ?? []);
    // root stages the sources where the environment reaches them (sandbox.ts); an ordinary user cannot
    if (process.getuid?.() !== 0) {
      for (const source of shifted) {
        await assertReachableAbove(resolve(source), (parent) => `chmod o+x ${parent}, or bind a directory below one others can search`);
      }
    }
    try {
      for (const source of shifted) await shiftTree(source, "in");
      await runCommands(env, options, results);
    } finally {
      for (const source of shifted) await shiftTree(source, "out");
    }
    return { snapshot: env.id, results, rootLog: env.rootLogLines, ...(packagesLayer ? { packagesLayer } : {}) };
  } finally {
    await env.dispose({ keep: options.keep });
  }
}

/**
 * The bind sources whose owners are shifted while the commands run: not a tree the range already owns
 * (an image root made in a sandbox), which shows its in-image owners inside as it is. Shifting it "back"
 * afterwards would re-own it to the host's ids, and with it every hard-linked copy (a cached tree).
 */
async function bindsToShift(binds: readonly BindMount[]): Promise<string[]> {
  const range = await idRange();
  const owned = (uid: number) => uid >= range.uid.start && uid < range.uid.start + RANGE_SIZE;
  const sources: string[] = [];
  for (const bind of binds) if (!owned((await lstat(bind.source)).uid)) sources.push(bind.source);
  return sources;
}

/** Copy a host .deb into the snapshot's /build/.debs (owned by the environment's root); its path inside. */
export async function stageLocalDeb(env: Environment, path: string): Promise<string> {
  await makeRangeDirs(env.snapshot.build, [".debs"]);
  await copyIntoRange([{ from: path, to: join(env.snapshot.build, ".debs", basename(path)) }], { uid: 0, gid: 0 });
  return `/build/.debs/${basename(path)}`;
}

async function runCommands(env: Environment, options: RunInEnvironmentOptions, results: RunResult[]): Promise<void> {
  for (const [i, command] of options.commands.entries()) {
    try {
      results.push(
        await env.run(command, {
          user: options.user,
          network: options.network ?? false,
          binds: options.binds,
          cwd: options.cwd,
          env: options.env,
          timeoutMs: options.timeoutMs,
          onStdout: (c) => options.onOutput?.(c, "stdout"),
          onStderr: (c) => options.onOutput?.(c, "stderr"),
        }),
      );
    } catch (error) {
      if (isCodedError(error, "COMMAND_FAILED")) {
        const exitCode = error.details?.exitCode;
        throw debMockError(
          "COMMAND_FAILED_IN_ENV",
          `command ${i + 1} (${command.join(" ")}) exited with ${exitCode}: ${error.message.split("\n").slice(1).join("\n")}`,
          {
            cause: error,
            details: { exitCode, command: i },
          },
        );
      }
      throw error;
    }
  }
}
