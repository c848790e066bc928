import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { BuildResult } from "@debian-bootc/deb-mock";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { profileFromMap } from "../hub/build-base.js";
import { DebMockRunner, extraRepoLines, failureLine, runResultOf } from "./deb-mock-runner.js";

const KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n";

describe("extraRepoLines", () => {
  const tempDir = useTempDir("runner-keys-");

  it("verifies the hub's repository with the hub's key (signed-by a file), never trusted=yes", async () => {
    const dir = tempDir();
    const lines = await extraRepoLines(
      [
        { url: "http://127.0.0.1:8080/repos/trixie-build/", suite: "trixie-build", components: ["main"], key: KEY },
        { url: "http://127.0.0.1:8080/repos/other/", suite: "other", components: ["main", "contrib"] },
      ],
      dir,
    );
    const keyFile = join(dir, "repo-1.asc");
    expect(lines).toEqual([
      `deb [signed-by=${keyFile}] http://127.0.0.1:8080/repos/trixie-build/ trixie-build main`,
      "deb http://127.0.0.1:8080/repos/other/ other main contrib",
    ]);
    expect(await readFile(keyFile, "utf8")).toBe(KEY);
    expect(lines.join("\n")).not.toContain("trusted");
  });

  it("refuses a repository whose fields would change the line's meaning", async () => {
    const dir = tempDir();
    await expect(extraRepoLines([{ url: "http://127.0.0.1/ [trusted=yes]", suite: "s", components: ["main"] }], dir)).rejects.toThrow(
      /malformed repository/,
    );
    await expect(extraRepoLines([{ url: "http://127.0.0.1/", suite: "s main [trusted=yes]", components: [] }], dir)).rejects.toThrow(
      /malformed repository/,
    );
  });
});

describe("runResultOf", () => {
  const base: BuildResult = {
    schemaVersion: 1,
    status: "success",
    exitCode: 0,
    source: { name: "hello", version: "2.10-5" },
    profile: { name: "debian-trixie-amd64", suite: "trixie", architecture: "amd64" },
    environmentHash: "ab",
    buildType: "binary",
    network: false,
    debBuildOptions: "",
    startedAt: "2026-12-03T00:00:00.000Z",
    finishedAt: "2026-12-03T00:00:01.000Z",
    durationMs: 1000,
    phases: [{ name: "build", startedAt: "2026-12-03T00:00:00.000Z", durationMs: 1000, status: "ok" }],
    artifacts: [
      { name: "hello_2.10-5_amd64.deb", kind: "deb", size: 53_000, sha256: "a".repeat(64) },
      { name: "hello_2.10-5_amd64.buildinfo", kind: "buildinfo", size: 6_000, sha256: "b".repeat(64) },
    ],
    installed: [{ name: "dpkg", version: "1.22.21", arch: "amd64" }],
  };

  it("takes result.json's artifacts, digests and installed packages as they are, reading no result file", () => {
    // the directory does not exist: nothing may be read from it
    const dir = "/nonexistent/deb-mock";
    const run = runResultOf(base, dir);
    expect(run.ok).toBe(true);
    expect(run.installed).toEqual([{ name: "dpkg", version: "1.22.21", arch: "amd64" }]);
    expect(run.files).toEqual([
      { path: `${dir}/hello_2.10-5_amd64.deb`, kind: "deb", size: 53_000, sha256: "a".repeat(64) },
      { path: `${dir}/hello_2.10-5_amd64.buildinfo`, kind: "buildinfo", size: 6_000, sha256: "b".repeat(64) },
      { path: `${dir}/build.log`, kind: "log" },
      { path: `${dir}/root.log`, kind: "log" },
      { path: `${dir}/state.log`, kind: "log" },
      { path: `${dir}/installed-packages.log`, kind: "log" },
      { path: `${dir}/result.json`, kind: "result" },
    ]);
  });

  const depsFailed: BuildResult = {
    ...base,
    status: "dependencies-failed",
    exitCode: 3,
    error: { code: "DEPENDENCIES_UNSATISFIABLE", message: "libfoo-dev (>= 2)" },
    phases: [{ name: "install-deps", startedAt: "2026-12-03T00:00:00.000Z", durationMs: 10, status: "failed" }],
    artifacts: [],
    installed: undefined,
  };

  it("reports a failure before the build with the logs deb-mock wrote and the failed step", () => {
    const run = runResultOf(depsFailed, "/r");
    expect(run.ok).toBe(false);
    expect(run.installed).toEqual([]);
    expect(run.files.map((f) => f.path)).toEqual(["/r/build.log", "/r/root.log", "/r/state.log", "/r/result.json"]);
    expect(run.failure).toEqual({
      code: "BUILD_STEP_FAILED",
      message: "dependencies-failed: DEPENDENCIES_UNSATISFIABLE libfoo-dev (>= 2)",
      step: "install-deps",
      relation: "libfoo-dev (>= 2)",
    });
  });

  it("passes on what apt could not satisfy, parsed, for the hub's why", () => {
    const unsatisfied = [
      { package: "satisfy:command-line", type: "Depends" as const, relation: "libfoo-dev (>= 2)", reasons: ["1.0-1 is to be installed"] },
    ];
    expect(runResultOf({ ...depsFailed, unsatisfied }, "/r").failure?.unsatisfied).toEqual(unsatisfied);
  });
});

describe("failureLine", () => {
  it("ends a failed build's log with deb-mock's error, and says nothing after a success", () => {
    const error = { code: "LOCKED", message: "the debian-trixie-amd64 base is locked by another process" };
    expect(failureLine({ status: "locked", error })).toBe(
      "\n== deb-mock: locked: LOCKED: the debian-trixie-amd64 base is locked by another process\n",
    );
    expect(failureLine({ status: "success" })).toBeUndefined();
  });
});

describe("DebMockRunner's profile choice", () => {
  it("is the one the hub's dep-wait check assumes: the build tag's entry, else the architecture's, else debian-trixie-ARCH", () => {
    const map = { "forky-build": "debian-forky-amd64", arm64: "debian-bookworm-arm64" };
    const runner = new DebMockRunner({ profileMap: map });
    const hub = profileFromMap(map);
    const cases = [
      ["forky-build", "amd64", "debian-forky-amd64"],
      ["forky-build", "arm64", "debian-forky-amd64"],
      ["trixie-build", "arm64", "debian-bookworm-arm64"],
      ["trixie-build", "amd64", "debian-trixie-amd64"],
    ] as const;
    for (const [buildTag, arch, profile] of cases) {
      expect(runner.profileFor({ buildTag, arch })).toBe(profile);
      expect(hub(buildTag, arch)).toBe(profile);
    }
    expect(new DebMockRunner().profileFor({ buildTag: "x", arch: "riscv64" })).toBe("debian-trixie-riscv64");
  });
});
