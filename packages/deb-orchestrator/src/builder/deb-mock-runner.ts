import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@debian-bootc/core";
import { type BuildResult, build } from "@debian-bootc/deb-mock";
import type { ExtraRepo } from "../api/tasks.js";
import { profileFromMap } from "../hub/build-base.js";
import type { BuildRunFile, BuildRunner, BuildRunRequest, BuildRunResult } from "./build-runner.js";

export interface DebMockRunnerOptions {
  /** deb-mock profile per build tag or architecture (`TAG=PROFILE`, `ARCH=PROFILE`); default debian-trixie-ARCH. */
  profileMap?: Readonly<Record<string, string>>;
  /** KEY=VALUE overrides passed to deb-mock (its --config-opt). */
  configOpts?: readonly string[];
  logger?: Logger;
}

const REPO_WORD = /^[A-Za-z0-9][A-Za-z0-9._~/+-]*$/;

/**
 * deb-mock's `--extra-repo` lines for the hub's repositories. A repository with a key is verified with
 * it: the armoured key goes to a file in `keyDir` named by `signed-by=` (deb-mock copies it into the
 * environment); one without a key is verified with the environment's own keyring. Never `trusted=yes`
 * (only a user who writes it into a profile gets that). URL, suite and components come from the hub's
 * answer: anything that could change the line's meaning (spaces, brackets) is refused.
 */
export async function extraRepoLines(repos: readonly ExtraRepo[], keyDir: string): Promise<string[]> {
  const lines: string[] = [];
  for (const [i, repo] of repos.entries()) {
    const words = [repo.suite, ...repo.components];
    if (!/^(https?|file):\/\/\S+$/.test(repo.url) || /[[\]]/.test(repo.url) || !words.every((w) => REPO_WORD.test(w))) {
      throw new Error(
        `the hub sent a malformed repository: ${JSON.stringify({ url: repo.url, suite: repo.suite, components: repo.components })}`,
      );
    }
    let options = "";
    if (repo.key) {
      await mkdir(keyDir, { recursive: true });
      const path = join(keyDir, `repo-${i + 1}.asc`);
      await writeFile(path, repo.key, { mode: 0o644 });
      options = `[signed-by=${path}] `;
    }
    lines.push(`deb ${options}${repo.url} ${words.join(" ")}`);
  }
  return lines;
}

/** Builds with deb-mock's library: the real BuildRunner. */
export class DebMockRunner implements BuildRunner {
  readonly name = "deb-mock";
  private readonly profileOf: (buildTag: string, arch: string) => string;
  constructor(private readonly options: DebMockRunnerOptions = {}) {
    this.profileOf = profileFromMap(options.profileMap ?? {});
  }

  /** The profile a build uses, chosen as the hub's dep-wait check assumes (build-base's profileFromMap). */
  profileFor(request: Pick<BuildRunRequest, "buildTag" | "arch">): string {
    return this.profileOf(request.buildTag, request.arch);
  }

  async build(request: BuildRunRequest): Promise<BuildRunResult> {
    const extraRepos = await extraRepoLines(request.extraRepos, join(request.resultDir, "extra-repo-keys"));
    const resultDir = join(request.resultDir, "deb-mock");
    const outcome = await build({
      source: request.dscPath,
      resultDir,
      extraRepos,
      ...(request.binnmu
        ? {
            binnmu: {
              number: request.binnmu.number,
              reason: request.binnmu.reason,
              ...(request.binnmu.date !== undefined ? { date: new Date(request.binnmu.date) } : {}),
            },
          }
        : {}),
      profile: this.profileFor(request),
      ...(this.options.configOpts ? { configOpts: this.options.configOpts } : {}),
      signal: request.signal,
      ...(this.options.logger ? { logger: this.options.logger } : {}),
      onEvent: (event) => {
        if (event.type === "build-output") request.log(event.chunk);
        else if (event.type === "phase-start") request.log(`\n== deb-mock: ${event.phase}\n`);
        else if (event.type === "phase-end" && !event.ok) request.log(`\n== deb-mock: ${event.phase} failed\n`);
      },
    });
    const { result } = outcome;
    if (result.status === "interrupted") throw request.signal.reason ?? new Error("deb-mock build interrupted");
    const why = failureLine(result);
    if (why) request.log(why);
    return runResultOf(result, outcome.resultDir);
  }
}

/** The line that ends a failed build's task log: why it failed, not only which phase (deb-mock's error). */
export function failureLine(result: Pick<BuildResult, "status" | "error">): string | undefined {
  if (result.status === "success" || !result.error) return undefined;
  return `\n== deb-mock: ${result.status}: ${result.error.code}: ${result.error.message}\n`;
}

/**
 * What the builder reports from deb-mock's result.json, taken as it is (the contract between the two):
 * the artifacts with their kind, size and digest (uploaded without hashing them again), the logs deb-mock
 * writes, and the installed packages. No result file is read again.
 */
export function runResultOf(result: BuildResult, resultDir: string): BuildRunResult {
  // result.json is the contract: its artifacts (kind, size, digest) and installed packages as they are;
  // deb-mock writes every log of the list (installed-packages.log when it lists installed packages)
  const files: BuildRunFile[] = result.artifacts.map((a) => ({
    path: join(resultDir, a.name),
    kind: a.kind,
    sha256: a.sha256,
    size: a.size,
  }));
  for (const log of ["build.log", "root.log", "state.log", ...(result.installed ? ["installed-packages.log"] : [])])
    files.push({ path: join(resultDir, log), kind: "log" });
  files.push({ path: join(resultDir, "result.json"), kind: "result" });
  const installed = result.installed ?? [];
  if (result.status === "success") return { ok: true, files, installed };
  const environment = result.status === "environment-failed" || result.status === "locked";
  return {
    ok: false,
    files,
    installed,
    failure: {
      code: environment ? "BUILD_ENVIRONMENT_FAILED" : "BUILD_STEP_FAILED",
      message: `${result.status}: ${result.error?.code ?? ""} ${result.error?.message ?? ""}`.trim(),
      step: result.phases.find((p) => p.status === "failed")?.name ?? result.status,
      ...(result.status === "dependencies-failed" && result.error ? { relation: result.error.message } : {}),
      ...(result.status === "dependencies-failed" && result.unsatisfied?.length ? { unsatisfied: result.unsatisfied } : {}),
    },
  };
}
