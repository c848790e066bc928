import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import type { AptUnmetRelation } from "@debian-bootc/deb-mock";
import { archMatches, binNmuVersion, parseDsc } from "@debian-bootc/debian";
import type { BinNmuRequest, ExtraRepo } from "../api/tasks.js";

export interface BuildRunRequest {
  /** The downloaded .dsc; the files it lists are beside it. */
  dscPath: string;
  source: string;
  version: string;
  arch: string;
  buildTag: string;
  /** The build tag's own repository and its external repos, for build-dependencies. */
  extraRepos: ExtraRepo[];
  /** A binary-only rebuild: the binaries get VERSION+bN. */
  binnmu?: BinNmuRequest;
  /** An empty directory for the results (.debs, .buildinfo, .changes, logs, result.json). */
  resultDir: string;
  /** Live build log: every chunk is forwarded to the hub while the build runs. */
  log(chunk: string | Buffer): void;
  signal: AbortSignal;
}

export interface BuildRunFile {
  path: string;
  /** deb, buildinfo, changes, log, result, ... */
  kind: string;
  /** Digest and size when the runner knows them already (deb-mock's result.json): uploaded without hashing again. */
  sha256?: string;
  size?: number;
  package?: string;
  version?: string;
  arch?: string;
}

export interface BuildRunResult {
  ok: boolean;
  files: BuildRunFile[];
  /** The build environment's installed packages (the buildroot). */
  installed: { name: string; version: string; arch: string }[];
  failure?: {
    /** BUILD_STEP_FAILED (the package) or BUILD_ENVIRONMENT_FAILED (retry elsewhere). */
    code: "BUILD_STEP_FAILED" | "BUILD_ENVIRONMENT_FAILED";
    message: string;
    /** The step that failed: install-deps, build, ... */
    step?: string;
    /** For unsatisfiable build-dependencies: the relation that could not be met. */
    relation?: string;
    /** For unsatisfiable build-dependencies: what apt could not satisfy, parsed (deb-mock's result.json). */
    unsatisfied?: AptUnmetRelation[];
  };
}

/** What the builder calls to turn a .dsc into results. deb-mock's library is the real one. */
export interface BuildRunner {
  readonly name: string;
  build(request: BuildRunRequest): Promise<BuildRunResult>;
}

export interface NoopRunnerOptions {
  /** How long the pretend build takes. */
  delayMs?: number;
  /** Fail the build of these source names (tests of failure paths). */
  failSources?: readonly string[];
}

/**
 * A runner that compiles nothing: it waits, writes a log and packs one tiny but real binary package with
 * `dpkg-deb --build` (a file under /usr/share/doc), deterministic for the same source, version and arch:
 * the source's own binary (or the first the .dsc lists), for the task's arch or `all` as the .dsc says.
 * For tests and benchmarks of the orchestration (the repository, apt-get install), never for real
 * packages.
 */
export class NoopBuildRunner implements BuildRunner {
  readonly name = "noop";
  constructor(private readonly options: NoopRunnerOptions = {}) {}

  async build(request: BuildRunRequest): Promise<BuildRunResult> {
    request.log(`noop build of ${request.source} ${request.version} on ${request.arch}\n`);
    const dsc = await readFile(request.dscPath);
    const delay = this.options.delayMs ?? 0;
    const steps = Math.max(1, Math.ceil(delay / 100));
    for (let i = 0; i < steps && delay > 0; i++) {
      if (request.signal.aborted) throw request.signal.reason;
      await new Promise((resolve) => setTimeout(resolve, delay / steps));
      if (i % 10 === 0) request.log(`step ${i + 1}/${steps}\n`);
    }
    if (this.options.failSources?.includes(request.source)) {
      request.log("dpkg-buildpackage: error: pretend failure\n");
      return {
        ok: false,
        files: [],
        installed: [],
        failure: { code: "BUILD_STEP_FAILED", message: "pretend build failure", step: "build" },
      };
    }
    // what the hub checks a result against: a package the .dsc names, for this arch or all
    const control = parseDsc(dsc.toString("utf8"), request.dscPath);
    const name = control.binaries.includes(request.source) ? request.source : (control.binaries[0] ?? request.source);
    const arch = control.architectures.some((a) => a !== "all" && archMatches(request.arch, a)) ? request.arch : "all";
    const binaryVersion = request.binnmu ? binNmuVersion(request.version, request.binnmu.number) : request.version;
    const version = binaryVersion.replace(/^[0-9]+:/, "");
    const debName = `${name}_${version}_${arch}.deb`;
    const root = join(request.resultDir, ".noop-root");
    const doc = join(root, "usr", "share", "doc", request.source);
    await mkdir(join(root, "DEBIAN"), { recursive: true });
    await mkdir(doc, { recursive: true });
    await writeFile(
      join(root, "DEBIAN", "control"),
      [
        `Package: ${name}`,
        ...(request.binnmu
          ? [`Source: ${request.source} (${request.version})`]
          : name === request.source
            ? []
            : [`Source: ${request.source}`]),
        `Version: ${binaryVersion}`,
        `Architecture: ${arch}`,
        "Maintainer: deb-orchestrator noop runner <noop@localhost>",
        "Section: misc",
        "Priority: optional",
        `Description: placeholder built by the noop runner from ${request.source}`,
        " Contains one text file; used to test orchestration without compiling.",
        "",
      ].join("\n"),
    );
    await writeFile(
      join(doc, "noop-build.txt"),
      `${request.source} ${request.version} ${request.arch}\nsource sha256 ${createHash("sha256").update(dsc).digest("hex")}\n`,
    );
    await run("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", root, join(request.resultDir, debName)], {
      env: { ...process.env, SOURCE_DATE_EPOCH: "1700000000" },
      debianPackage: "dpkg",
      signal: request.signal,
    });
    await rm(root, { recursive: true, force: true });
    request.log("done\n");
    return {
      ok: true,
      files: [{ path: join(request.resultDir, debName), kind: "deb", package: name, version: binaryVersion, arch }],
      installed: [
        { name: "dpkg", version: "1.22.21", arch: request.arch },
        { name: "build-essential", version: "12.12", arch: request.arch },
      ],
    };
  }
}
