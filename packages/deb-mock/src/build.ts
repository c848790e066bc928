import { createWriteStream, type WriteStream } from "node:fs";
import { copyFile, lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { CodedError, coreError, exitCodes, isCodedError, siblingTempPath } from "@debian-bootc/core";
import { addBinNmuEntry, type BinNmu, binNmuVersion, checkBinNmu, hashFileWith } from "@debian-bootc/debian";
import { type AptUnmetRelation, describeAptUnmet, parseAptUnmet } from "./apt-unmet.js";
import { type CommonOptions, Environment, resolveProfile } from "./environment.js";
import { debMockError } from "./errors.js";
import { PhaseTracker } from "./events.js";
import type { Profile } from "./profile-schema.js";
import { copyIntoRange, giveToRange } from "./range-fs.js";
import { artifactKind, type BuildResult, type BuildStatus, type InstalledPackage } from "./result.js";
import { fetchSourcePackage } from "./source-fetch.js";
import {
  type BuildType,
  buildTypeFlag,
  changelogTimestamp,
  type DscInfo,
  isUnsatisfiableAptOutput,
  parsePackageSpec,
  readDscText,
  satisfyArgs,
  upstreamVersion,
} from "./source-input.js";

export interface BuildOptions extends CommonOptions {
  /** A .dsc file, an unpacked source tree with debian/, or PACKAGE[=VERSION] from the profile's deb-src. */
  source: string;
  /** Where the results go (written atomically). Default: ./deb-mock-results/SOURCE_VERSION. */
  resultDir?: string;
  /**
   * Extra APT sources for this build, one-line format. A `signed-by=` naming key files on the host is
   * rewritten to copies of them inside the environment.
   */
  extraRepos?: readonly string[];
  /** Key files (host paths) for the extra sources that name no `signed-by` (nor `trusted`). */
  extraRepoKeys?: readonly string[];
  /** binary (default: arch + indep), arch (--arch-only), indep (--indep-only), full (--source-and-binary). */
  buildType?: BuildType;
  nocheck?: boolean;
  /** Keep the snapshot afterwards (its id is in result.json). */
  noClean?: boolean;
  /** Network during dpkg-buildpackage (default: the profile's `network`). */
  network?: boolean;
  /** DEB_BUILD_OPTIONS parallel=N (default: the profile's `parallel`). */
  parallel?: number;
  lintian?: boolean;
  installTest?: boolean;
  reproducible?: boolean;
  /**
   * A binNMU (as sbuild's --binNMU and --make-binNMU): a changelog entry `VERSION+bN` with the reason is
   * added to the unpacked tree and only architecture-dependent packages are built.
   */
  binnmu?: BinNmu;
}

export interface BuildOutcome {
  result: BuildResult;
  resultDir: string;
}

type Input = { kind: "dsc"; path: string } | { kind: "dir"; path: string } | { kind: "package"; name: string; version?: string };

async function classifyInput(source: string): Promise<Input> {
  const info = await stat(source).catch(() => undefined);
  if (info?.isFile() && source.endsWith(".dsc")) return { kind: "dsc", path: resolve(source) };
  if (info?.isDirectory()) {
    const control = await stat(join(source, "debian", "control")).catch(() => undefined);
    if (!control) throw debMockError("BUILD_INPUT_INVALID", `${source}: a source directory needs debian/control`);
    return { kind: "dir", path: resolve(source) };
  }
  if (info) throw debMockError("BUILD_INPUT_INVALID", `${source}: expected a .dsc file, a source directory or PACKAGE[=VERSION]`);
  const spec = !source.includes("/") ? parsePackageSpec(source) : undefined;
  if (!spec) throw debMockError("BUILD_INPUT_INVALID", `${source}: no such file or directory, and not a PACKAGE[=VERSION]`);
  return { kind: "package", ...spec };
}

function statusFor(error: unknown): BuildStatus {
  if (!(error instanceof CodedError)) return "environment-failed";
  if (error.code === "CHECK_FAILED") return "check-failed";
  switch (error.category) {
    case "build-failed":
      return "build-failed";
    case "dependencies":
      return "dependencies-failed";
    case "interrupted":
      return "interrupted";
    case "locked":
    case "conflict":
      return "locked";
    case "input":
    case "usage":
    case "config":
    case "not-found":
      return "input-failed";
    default:
      return "environment-failed";
  }
}

function debBuildOptions(profile: Profile, options: BuildOptions): string {
  const parallel = options.parallel ?? (profile.parallel === "auto" ? availableParallelism() : profile.parallel);
  const words = [`parallel=${parallel}`, ...profile.debBuildOptions];
  if (options.nocheck && !words.includes("nocheck")) words.push("nocheck");
  return words.join(" ");
}

interface Staged {
  dscName: string;
  dsc: DscInfo;
  /** Files of the source package in /build (also artifacts when the source was built here). */
  sourceFiles: string[];
  builtSource: boolean;
}

/** Put the source package into the snapshot's /build, as the build user. */
async function stageSource(env: Environment, input: Input): Promise<Staged> {
  const build = env.snapshot.build;
  const owner = env.profile.buildUid;
  if (input.kind === "dsc") {
    const dsc = readDscText(await readFile(input.path, "utf8"), input.path);
    const dir = dirname(input.path);
    for (const name of [basename(input.path), ...dsc.files]) {
      const from = join(dir, name);
      if (!(await lstat(from).catch(() => undefined))?.isFile())
        throw debMockError("BUILD_INPUT_INVALID", `${input.path} lists ${name}, but ${from} is not a readable file`);
    }
    await copyIntoRange(
      [basename(input.path), ...dsc.files].map((name) => ({ from: join(dir, name), to: join(build, name) })),
      { uid: owner, gid: owner },
    );
    env.log(`staged ${basename(input.path)} and ${dsc.files.join(", ")} in /build`);
    return { dscName: basename(input.path), dsc, sourceFiles: [basename(input.path), ...dsc.files], builtSource: false };
  }
  if (input.kind === "package") {
    const dscName = await fetchSourcePackage(env, input.name, input.version);
    const dsc = readDscText(await readFile(join(build, dscName), "utf8"), dscName);
    return { dscName, dsc, sourceFiles: [dscName, ...dsc.files], builtSource: false };
  }
  // an unpacked tree: copy it (and any orig tarballs beside it) in, then dpkg-source -b as the build user
  const treeName = `${basename(input.path)}.deb-mock-src`;
  const origs = (await readdir(dirname(input.path))).filter((e) => /\.orig(-[A-Za-z0-9-]+)?\.tar\.(gz|xz|bz2|lzma|zst)(\.asc)?$/.test(e));
  await copyIntoRange(
    [{ from: input.path, to: join(build, treeName) }, ...origs.map((e) => ({ from: join(dirname(input.path), e), to: join(build, e) }))],
    { uid: owner, gid: owner },
  );
  await env.run(["rm", "-rf", "--", `/build/${treeName}/.git`]);
  const before = new Set(await readdir(build));
  try {
    await env.run(["dpkg-source", "--build", `./${treeName}`], {
      user: "builder",
      cwd: "/build",
      onStdout: (c) => env.log(c.toString("utf8").trimEnd()),
    });
  } catch (error) {
    if (isCodedError(error, "COMMAND_FAILED"))
      throw debMockError("BUILD_FAILED", `dpkg-source --build ${input.path} failed: ${error.message}`, { cause: error });
    throw error;
  }
  await env.run(["rm", "-rf", "--", `/build/${treeName}`]);
  const created = (await readdir(build)).filter((f) => !before.has(f));
  const dscName = created.find((f) => f.endsWith(".dsc"));
  if (!dscName) throw debMockError("BUILD_FAILED", `dpkg-source --build ${input.path} made no .dsc`);
  const dsc = readDscText(await readFile(join(build, dscName), "utf8"), dscName);
  return { dscName, dsc, sourceFiles: [dscName, ...dsc.files], builtSource: true };
}

interface CompileOptions {
  buildType: BuildType;
  network: boolean;
  debBuildOptions: string;
  profiles: string;
  buildLog: WriteStream;
  /** Unpack into /build/<dir>; differs between the two builds of --reproducible. */
  unpackDir: string;
  extraRepos: readonly string[];
  extraRepoKeys: readonly string[];
  binnmu?: BinNmu;
  arch: string;
}

interface Compiled {
  sourceDateEpoch: number;
  buildDepsLayer?: { key: string; reused: boolean };
  installed: InstalledPackage[];
  artifacts: string[];
}

/** Unpack, install build dependencies, run dpkg-buildpackage; the artifacts are the new files in /build. */
async function compile(env: Environment, staged: Staged, tracker: PhaseTracker, opts: CompileOptions): Promise<Compiled> {
  const build = env.snapshot.build;
  const before = new Set(await readdir(build));
  const write = (chunk: Buffer | string) => {
    opts.buildLog.write(chunk);
    tracker.emit({ type: "build-output", chunk: chunk.toString() });
  };
  const srcDir = `/build/${opts.unpackDir}`;
  await tracker.phase("unpack", async () => {
    write(`deb-mock: dpkg-source --extract ${staged.dscName} ${srcDir}\n`);
    try {
      // ./NAME: a file name is never read as an option
      await env.run(["dpkg-source", "--extract", `./${staged.dscName}`, srcDir], {
        user: "builder",
        cwd: "/build",
        onStdout: write,
        onStderr: write,
      });
    } catch (error) {
      if (isCodedError(error, "COMMAND_FAILED"))
        throw debMockError("BUILD_FAILED", `unpacking ${staged.dscName} failed: ${error.message}`, { cause: error });
      throw error;
    }
  });
  const changelogPath = join(build, opts.unpackDir, "debian", "changelog");
  if (opts.binnmu) {
    // rewritten in place (the file keeps its owner, the build user); SOURCE_DATE_EPOCH is then the entry's date
    const binnmu = opts.binnmu;
    const changelog = await readFile(changelogPath, "utf8");
    await writeFile(changelogPath, addBinNmuEntry(changelog, binnmu, opts.arch));
    write(`deb-mock: binNMU ${binNmuVersion(staged.dsc.version, binnmu.number)}: ${binnmu.reason}\n`);
  }
  const sourceDateEpoch = changelogTimestamp(
    await readFile(changelogPath, "utf8").catch(() => ""),
    `${staged.dsc.source}: debian/changelog`,
  );
  if (opts.extraRepos.length) await tracker.phase("extra-repos", () => env.addExtraRepos(opts.extraRepos, opts.extraRepoKeys));
  let buildDepsLayer: Compiled["buildDepsLayer"];
  await tracker.phase("install-build-deps", async () => {
    const args = satisfyArgs(staged.dsc, opts.buildType);
    if (args.length === 0) return;
    const profileOpt = opts.profiles ? ["-o", `APT::Build-Profiles=${opts.profiles}`] : [];
    try {
      const outcome = await env.apt([...profileOpt, "satisfy", "--", ...args], { layer: true });
      if (outcome.key) buildDepsLayer = { key: outcome.key, reused: outcome.layer === "reused" };
    } catch (error) {
      if (isCodedError(error, "COMMAND_FAILED")) {
        // the first line is the command line (which holds the dependencies); apt's output follows
        const text = error.message.slice(error.message.indexOf("\n") + 1);
        const stdout = typeof error.details?.stdout === "string" ? error.details.stdout : "";
        if (isUnsatisfiableAptOutput(`${stdout}\n${text}`)) {
          const unsatisfied = parseAptUnmet(`${stdout}\n${text}`);
          const why = unsatisfied.length > 0 ? unsatisfied.map(describeAptUnmet).join("; ") : text.split("\n").slice(-12).join("\n");
          throw debMockError("DEPENDENCIES_UNSATISFIABLE", `build dependencies of ${staged.dsc.source} cannot be satisfied: ${why}`, {
            cause: error,
            details: { dependencies: args, unsatisfied },
          });
        }
      }
      throw error;
    }
  });
  const installed = await env.installedPackages();
  await tracker.phase("build", async () => {
    const flag = buildTypeFlag(opts.buildType);
    const env_ = {
      SOURCE_DATE_EPOCH: String(sourceDateEpoch),
      DEB_BUILD_OPTIONS: opts.debBuildOptions,
      ...(opts.profiles ? { DEB_BUILD_PROFILES: opts.profiles } : {}),
      LANG: "C.UTF-8",
      TERM: "dumb",
    };
    write(
      `deb-mock: dpkg-buildpackage ${flag} in ${srcDir}; ${Object.entries(env_)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}; network ${opts.network ? "on" : "off"}\n`,
    );
    try {
      await env.run(["dpkg-buildpackage", "--no-sign", flag], {
        user: "builder",
        cwd: srcDir,
        network: opts.network,
        env: env_,
        onStdout: write,
        onStderr: write,
        captureStdout: false,
      });
    } catch (error) {
      if (isCodedError(error, "COMMAND_FAILED")) {
        const code = (error.details?.exitCode as number | undefined) ?? -1;
        write(`deb-mock: dpkg-buildpackage failed with exit code ${code}\n`);
        throw debMockError(
          "BUILD_FAILED",
          `${staged.dsc.source} ${staged.dsc.version} failed to build (dpkg-buildpackage exit code ${code}); see build.log`,
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  });
  const named = (await readdir(build)).filter(
    (f) => !before.has(f) && /\.(deb|udeb|ddeb|buildinfo|changes|dsc|tar\.(gz|xz|bz2|lzma|zst)|diff\.gz|asc)$/.test(f),
  );
  // regular files only: deb-mock reads them on the host, where a symbolic link the build made would
  // lead to a host file
  const artifacts: string[] = [];
  for (const name of named) if ((await lstat(join(build, name)).catch(() => undefined))?.isFile()) artifacts.push(name);
  return { sourceDateEpoch, installed, artifacts, ...(buildDepsLayer ? { buildDepsLayer } : {}) };
}

async function writeResultDir(target: string, files: Array<{ from?: string; name: string; text?: string }>): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const temp = siblingTempPath(target);
  await mkdir(temp);
  try {
    for (const file of files) {
      if (file.text !== undefined) await writeFile(join(temp, file.name), file.text);
      else if (file.from) await copyFile(file.from, join(temp, file.name));
    }
    const old = await stat(target).catch(() => undefined);
    if (old) {
      const aside = siblingTempPath(target);
      await rename(target, aside);
      await rename(temp, target);
      await rm(aside, { recursive: true, force: true });
    } else await rename(temp, target);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Build a source package in a fresh snapshot of the profile's cached base and write the result directory
 * (atomically). Resolves with the result for every outcome that got as far as a result directory,
 * including failures (see `result.status` and `result.exitCode`); rejects only when the profile or the
 * input cannot be read at all.
 */
export async function build(options: BuildOptions): Promise<BuildOutcome> {
  const profile = await resolveProfile(options);
  const input = await classifyInput(options.source);
  const tracker = new PhaseTracker(options.onEvent);
  const startedAt = new Date();
  const binnmu = options.binnmu && checkBinNmu({ ...options.binnmu, date: options.binnmu.date ?? new Date() });
  // Debian binNMUs only architecture-dependent packages (arch: all ones would clash between architectures)
  const buildType = binnmu ? "arch" : (options.buildType ?? "binary");
  const network = options.network ?? profile.network;
  const dbo = debBuildOptions(profile, options);
  const buildProfiles = options.nocheck ? "nocheck" : "";
  let env: Environment | undefined;
  let staged: Staged | undefined;
  let compiled: Compiled | undefined;
  let failure: unknown;
  let buildLogPath: string | undefined;
  const checks: NonNullable<BuildResult["checks"]> = {};
  const extraEnvs: Environment[] = [];
  try {
    env = await tracker.phase("environment", () => Environment.open({ ...options, profile, keep: options.noClean, purpose: "build" }));
    const theEnv = env;
    buildLogPath = join(theEnv.snapshot.logs, "build.log");
    const buildLog = createWriteStream(buildLogPath, { flags: "a" });
    try {
      staged = await tracker.phase("prepare-source", () => stageSource(theEnv, input));
      const stagedNow = staged;
      const compileOpts: CompileOptions = {
        buildType,
        network,
        debBuildOptions: dbo,
        profiles: buildProfiles,
        buildLog,
        unpackDir: `${stagedNow.dsc.source}-${upstreamVersion(stagedNow.dsc.version)}`,
        extraRepos: options.extraRepos ?? [],
        extraRepoKeys: options.extraRepoKeys ?? [],
        arch: profile.architecture,
        ...(binnmu ? { binnmu } : {}),
      };
      compiled = await compile(theEnv, stagedNow, tracker, compileOpts);
      const first = compiled;
      if (options.lintian) {
        await tracker.phase("lintian", async () => {
          await theEnv.apt(["install", "lintian"]);
          const changes = first.artifacts.filter((a) => a.endsWith(".changes")).map((a) => `/build/${a}`);
          const res = await theEnv.run(["lintian", "--no-tag-display-limit", ...changes], {
            user: "builder",
            cwd: "/build",
            okCodes: [1, 2],
          });
          checks.lintian = { ok: res.code === 0, output: res.stdout };
        });
      }
      if (options.installTest) {
        await tracker.phase("install-test", async () => {
          const debs = first.artifacts.filter((a) => a.endsWith(".deb"));
          const testEnv = await Environment.open({ ...options, profile, purpose: "install-test" });
          extraEnvs.push(testEnv);
          await mkdir(join(testEnv.snapshot.build, "debs"));
          for (const deb of debs) await copyFile(join(theEnv.snapshot.build, deb), join(testEnv.snapshot.build, "debs", deb));
          await giveToRange([join(testEnv.snapshot.build, "debs")], undefined, { recursive: true });
          try {
            await testEnv.apt(["install", ...debs.map((d) => `/build/debs/${d}`)]);
            checks.installTest = { ok: true, packages: debs };
          } catch (error) {
            checks.installTest = { ok: false, packages: debs };
            throw debMockError("CHECK_FAILED", `--install-test: the built packages do not install: ${(error as Error).message}`, {
              cause: error,
            });
          } finally {
            theEnv.rootLogLines.push(...testEnv.rootLogLines.map((l) => `[install-test] ${l}`));
          }
        });
      }
      if (options.reproducible) {
        await tracker.phase("reproducible", async () => {
          const second = await Environment.open({ ...options, profile, purpose: "reproducible" });
          extraEnvs.push(second);
          for (const name of stagedNow.sourceFiles) await copyFile(join(theEnv.snapshot.build, name), join(second.snapshot.build, name));
          await giveToRange(
            stagedNow.sourceFiles.map((name) => join(second.snapshot.build, name)),
            { uid: profile.buildUid, gid: profile.buildUid },
          );
          buildLog.write("\ndeb-mock: --reproducible: second build in a fresh snapshot and another build path\n");
          const again = await compile(second, stagedNow, new PhaseTracker(), {
            ...compileOpts,
            unpackDir: `${compileOpts.unpackDir}-repro2`,
          });
          const differing: string[] = [];
          for (const name of first.artifacts.filter((a) => a.endsWith(".deb"))) {
            if (!again.artifacts.includes(name)) differing.push(name);
            else if ((await sha256Of(join(theEnv.snapshot.build, name))) !== (await sha256Of(join(second.snapshot.build, name))))
              differing.push(name);
          }
          checks.reproducible = { ok: differing.length === 0, differing };
          if (differing.length)
            throw debMockError("CHECK_FAILED", `--reproducible: these differ between two builds: ${differing.join(", ")}`);
        });
      }
    } finally {
      await new Promise<void>((done) => buildLog.end(done));
    }
  } catch (error) {
    failure = error;
  }
  if (failure === undefined && options.signal?.aborted) failure = coreError("INTERRUPTED", "interrupted");

  // the result directory: assembled beside its final place, then renamed in
  const status: BuildStatus = failure === undefined ? "success" : statusFor(failure);
  const coded = failure instanceof CodedError ? failure : failure === undefined ? undefined : coreError("INTERNAL", String(failure));
  const finishedAt = new Date();
  const resultDir = resolve(
    options.resultDir ??
      join("deb-mock-results", staged ? `${staged.dsc.source}_${staged.dsc.version.replace(/^\d+:/, "")}` : basename(options.source)),
  );
  const files: Array<{ from?: string; name: string; text?: string }> = [];
  const artifacts: BuildResult["artifacts"] = [];
  if (env && compiled) {
    const names = [...compiled.artifacts, ...(staged?.builtSource && buildType !== "full" ? staged.sourceFiles : [])];
    for (const name of [...new Set(names)].sort()) {
      const from = join(env.snapshot.build, name);
      const info = await lstat(from).catch(() => undefined);
      if (!info?.isFile()) continue;
      artifacts.push({ name, kind: artifactKind(name), size: info.size, sha256: await sha256Of(from) });
      files.push({ from, name });
    }
    files.push({ name: "installed-packages.log", text: compiled.installed.map((p) => `${p.name} ${p.version} ${p.arch}\n`).join("") });
  }
  if (buildLogPath) files.push({ from: buildLogPath, name: "build.log" });
  else files.push({ name: "build.log", text: "" });
  const rootLog = [...(env?.rootLogLines ?? []), ...(coded ? [`${finishedAt.toISOString()} error ${coded.code}: ${coded.message}`] : [])];
  files.push({ name: "root.log", text: `${rootLog.join("\n")}\n` });
  files.push({ name: "state.log", text: `${tracker.stateLog.join("\n")}\n${finishedAt.toISOString()} ${status}\n` });
  const result: BuildResult = {
    schemaVersion: 1,
    status,
    exitCode: coded ? exitCodes[coded.category] : 0,
    ...(coded ? { error: { code: coded.code, message: coded.message, ...(coded.hint ? { hint: coded.hint } : {}) } } : {}),
    ...(staged ? { source: { name: staged.dsc.source, version: staged.dsc.version } } : {}),
    profile: { name: profile.name, suite: profile.suite, architecture: profile.architecture },
    environmentHash: env?.environmentHash ?? "",
    ...(env ? { baseGeneration: basename(env.base.dir), indexGeneration: basename(env.index.dir), snapshot: env.id } : {}),
    buildType,
    network,
    ...(compiled ? { sourceDateEpoch: compiled.sourceDateEpoch } : {}),
    debBuildOptions: dbo,
    ...(compiled?.buildDepsLayer ? { buildDepsLayer: compiled.buildDepsLayer } : {}),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    phases: tracker.phases,
    artifacts,
    ...(compiled ? { installed: compiled.installed } : {}),
    ...(Object.keys(checks).length ? { checks } : {}),
    ...(coded?.code === "DEPENDENCIES_UNSATISFIABLE" && Array.isArray(coded.details?.unsatisfied)
      ? { unsatisfied: coded.details.unsatisfied as AptUnmetRelation[] }
      : {}),
  };
  files.push({ name: "result.json", text: `${JSON.stringify(result, null, 2)}\n` });
  try {
    await writeResultDir(resultDir, files);
  } finally {
    for (const extra of extraEnvs) await extra.dispose().catch(() => undefined);
    await env?.dispose({ keep: options.noClean }).catch(() => undefined);
  }
  return { result, resultDir };
}

async function sha256Of(path: string): Promise<string> {
  return (await hashFileWith(path, ["sha256"])).sha256;
}
