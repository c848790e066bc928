import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ExtraRepo } from "../hub/task-engine.js";

export interface BuildRunRequest {
  /** The downloaded .dsc; the files it lists are beside it. */
  dscPath: string;
  source: string;
  version: string;
  arch: string;
  buildTag: string;
  /** The build tag's own repository and its external repos, for build-dependencies. */
  extraRepos: ExtraRepo[];
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
 * A runner that builds nothing: it waits, writes a log and one placeholder .deb whose bytes depend only on
 * the source, version and arch (so a rebuild produces the same artifact). For tests and benchmarks of the
 * orchestration, never for real packages.
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
    const version = request.version.replace(/^[0-9]+:/, "");
    const debName = `${request.source}_${version}_${request.arch}.deb`;
    const content = createHash("sha256").update(`${request.source} ${request.version} ${request.arch}\n`).update(dsc).digest();
    await writeFile(join(request.resultDir, debName), content);
    request.log("done\n");
    return {
      ok: true,
      files: [
        { path: join(request.resultDir, debName), kind: "deb", package: request.source, version: request.version, arch: request.arch },
      ],
      installed: [
        { name: "dpkg", version: "1.22.21", arch: request.arch },
        { name: "build-essential", version: "12.12", arch: request.arch },
      ],
    };
  }
}
