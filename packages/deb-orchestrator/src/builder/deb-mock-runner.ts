import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@debian-bootc/core";
import { build } from "@debian-bootc/deb-mock";
import type { BuildRunFile, BuildRunner, BuildRunRequest, BuildRunResult } from "./build-runner.js";

export interface DebMockRunnerOptions {
  /** deb-mock profile per build tag or architecture (`TAG=PROFILE`, `ARCH=PROFILE`); default debian-trixie-ARCH. */
  profileMap?: Readonly<Record<string, string>>;
  /** KEY=VALUE overrides passed to deb-mock (its --config-opt). */
  configOpts?: readonly string[];
  logger?: Logger;
}

function kindOf(name: string): string {
  if (/\.u?deb$/.test(name)) return "deb";
  if (name.endsWith(".buildinfo")) return "buildinfo";
  if (name.endsWith(".changes")) return "changes";
  if (name.endsWith(".dsc")) return "dsc";
  if (/\.tar\.[a-z0-9]+$|\.diff\.gz$/.test(name)) return "source";
  return "file";
}

/** Builds with deb-mock's library: the real BuildRunner. */
export class DebMockRunner implements BuildRunner {
  readonly name = "deb-mock";
  constructor(private readonly options: DebMockRunnerOptions = {}) {}

  profileFor(request: Pick<BuildRunRequest, "buildTag" | "arch">): string {
    const map = this.options.profileMap ?? {};
    return map[request.buildTag] ?? map[request.arch] ?? `debian-trixie-${request.arch}`;
  }

  async build(request: BuildRunRequest): Promise<BuildRunResult> {
    // deb-mock cannot take a key file into the build environment yet, so the hub's own repository is
    // trusted by its transport (the builder fetched it from the hub it authenticates to).
    const extraRepos = request.extraRepos.map((r) => `deb ${r.key ? "[trusted=yes] " : ""}${r.url} ${r.suite} ${r.components.join(" ")}`);
    const resultDir = join(request.resultDir, "deb-mock");
    const outcome = await build({
      source: request.dscPath,
      resultDir,
      extraRepos,
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
    const files: BuildRunFile[] = result.artifacts.map((a) => ({ path: join(outcome.resultDir, a.name), kind: kindOf(a.name) }));
    for (const log of ["build.log", "root.log", "state.log", "installed-packages.log"])
      files.push({ path: join(outcome.resultDir, log), kind: "log" });
    files.push({ path: join(outcome.resultDir, "result.json"), kind: "result" });
    const installedText = await readFile(join(outcome.resultDir, "installed-packages.log"), "utf8").catch(() => "");
    const installed = installedText
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((p): p is [string, string, string] => p.length === 3)
      .map(([name, version, arch]) => ({ name, version, arch }));
    const existing = [];
    for (const file of files)
      if (
        await readFile(file.path).then(
          () => true,
          () => false,
        )
      )
        existing.push(file);
    if (result.status === "success") return { ok: true, files: existing, installed };
    const environment = result.status === "environment-failed" || result.status === "locked";
    return {
      ok: false,
      files: existing,
      installed,
      failure: {
        code: environment ? "BUILD_ENVIRONMENT_FAILED" : "BUILD_STEP_FAILED",
        message: `${result.status}: ${result.error?.code ?? ""} ${result.error?.message ?? ""}`.trim(),
        step: result.phases.find((p) => p.status === "failed")?.name ?? result.status,
        ...(result.status === "dependencies-failed" && result.error ? { relation: result.error.message } : {}),
      },
    };
  }
}
