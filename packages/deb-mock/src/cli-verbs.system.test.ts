import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildResultSchema } from "./result.js";

// System tier: the interactive-ish verbs through the real CLI (root, the shared base cache).

const repo = join(import.meta.dirname, "..", "..", "..");
const fixtures = join(import.meta.dirname, "__fixtures__", "packages");
let work: string;

function debMock(args: string[], input?: string) {
  return spawnSync(process.execPath, ["--conditions=source", "--import", "tsx", join(import.meta.dirname, "cli.ts"), ...args], {
    cwd: repo,
    input,
    encoding: "utf8",
    timeout: 15 * 60_000,
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "deb-mock-verbs-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("deb-mock verbs", () => {
  it("shell reads commands from stdin in a fresh trixie snapshot and passes the exit code on", () => {
    const result = debMock(["shell"], "id -un; cat /etc/debian_version; touch /etc/scratch; exit 3\n");
    expect(result.status, result.stderr).toBe(3);
    const [user, version] = result.stdout.trim().split("\n");
    expect(user).toBe("root");
    expect(version).toMatch(/^13\./);
    // the snapshot was thrown away: a second shell does not see the first one's file
    const again = debMock(["shell"], "test -e /etc/scratch && echo leaked || echo clean\n");
    expect(again.stdout.trim()).toBe("clean");
  });

  it("build --lintian runs lintian on the result and records its verdict without failing the build", async () => {
    const resultDir = join(work, "lintian");
    const result = debMock(["build", join(fixtures, "tiny-ok"), "--resultdir", resultDir, "--lintian"]);
    const json = buildResultSchema.parse(JSON.parse(await readFile(join(resultDir, "result.json"), "utf8")));
    expect(json.phases.find((p) => p.name === "lintian")?.status).toBe("ok");
    // the fixture ships no copyright file: lintian says so, and (as with sbuild) its verdict is a report
    expect(json.checks?.lintian?.output).toMatch(/^E: tiny-ok: no-copyright-file$/m);
    expect(json.checks?.lintian?.ok).toBe(false);
    expect(result.status, result.stderr).toBe(0);
    expect(json.status).toBe("success");
  });
});
