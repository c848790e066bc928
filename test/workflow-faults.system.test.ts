import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmbeddedHubClient, lookAtEmbeddedHub } from "./embedded-hub.js";

/**
 * The workflow's failure paths with real deb-mock builds, through the compose command as a user runs it
 * (embedded hub on SQLite and local builder, in the test's own data directory):
 * - a source whose build fails stops the compose (exit 1, DOOMED) with the hub's `why` answer and the
 *   tail of the build log, which names the failing step;
 * - Ctrl-C in the middle of a build cancels it on the hub and leaves no process or mount behind.
 * Needs root and the mirror (the build dependencies); about two minutes.
 */

const root = fileURLToPath(new URL("..", import.meta.url));
const composeCli = join(root, "packages", "deb-bootc-compose", "src", "cli.ts");
let dir = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "workflow-faults-"));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A native source tree whose dh_auto_build step runs `buildStep` (shell). */
async function sourceTree(defDir: string, name: string, buildStep: string): Promise<void> {
  const d = join(defDir, name, "debian");
  await mkdir(join(d, "source"), { recursive: true });
  await writeFile(
    join(d, "changelog"),
    `${name} (1.0) trixie; urgency=medium\n\n  * Workflow fault test.\n\n -- Test <test@localhost>  Thu, 26 Nov 2026 12:00:00 +0000\n`,
  );
  await writeFile(
    join(d, "control"),
    `Source: ${name}\nSection: misc\nPriority: optional\nMaintainer: Test <test@localhost>\nBuild-Depends: debhelper-compat (= 13)\n\nPackage: ${name}\nArchitecture: all\nDescription: test package ${name}\n For the workflow's fault tests.\n`,
  );
  await writeFile(join(d, "rules"), `#!/usr/bin/make -f\n%:\n\tdh $@\n\noverride_dh_auto_build:\n\t${buildStep}\n`, { mode: 0o755 });
  await writeFile(join(d, "source", "format"), "3.0 (native)\n");
}

/** A definition that builds one source tree and stops after the build phase. */
async function definition(name: string, buildStep: string): Promise<string> {
  const defDir = join(dir, name);
  await sourceTree(defDir, name, buildStep);
  const path = join(defDir, `${name}.yaml`);
  await writeFile(
    path,
    [
      `name: ${name}`,
      'version: "1"',
      "repositories:",
      "  - type: orchestrator",
      `    tag: ${name}`,
      "baseline: none",
      "bootloader: none",
      `kernel: { package: ${name} }`,
      `packages: [${name}]`,
      "outputs: [oci]",
      "build:",
      `  target: ${name}`,
      "  sources:",
      `    - path: ${name}`,
      "",
    ].join("\n"),
  );
  return path;
}

function composeArgs(def: string): string[] {
  return [
    "--conditions=source",
    "--import",
    "tsx",
    composeCli,
    "compose",
    def,
    "--output",
    join(dir, "composes"),
    "--orchestrator-data",
    join(dir, "orchestrator"),
    "--cache-dir",
    join(dir, "cache"),
    "--just-phase",
    "build",
  ];
}

/** The test's embedded hub, opened only to look. */
const withHub = <T>(def: string, look: (client: EmbeddedHubClient) => Promise<T>) =>
  lookAtEmbeddedHub(join(dir, "orchestrator"), def, look);

const buildOf = (client: EmbeddedHubClient, name: string) => client.getBuild(`${name}/1.0`);

/** Processes whose command line mentions the test's directory (the compose, its builder's deb-mock). */
async function processesOfTheTest(): Promise<string[]> {
  const { stdout } = await run("ps", ["-eo", "pid=,args="]);
  return stdout
    .split("\n")
    .filter((l) => l.includes(dir) && !l.includes("ps -eo"))
    .map((l) => l.trim());
}

describe("workflow faults with real deb-mock builds", () => {
  it("a failing build stops the compose with the hub's why answer and the build log's tail", async () => {
    const def = await definition("wf-broken", 'echo "wf-broken: this build step fails on purpose" >&2; exit 3');
    const failed = await run(process.execPath, composeArgs(def), { cwd: root, okCodes: [1] });
    const output = failed.stdout + failed.stderr;
    expect(failed.code, output).toBe(1);
    const composeDir = /error: (wf-broken-1-\d+\.0): phase build failed/.exec(output)?.[1];
    expect(composeDir, output).toBeDefined();
    expect((await readFile(join(dir, "composes", composeDir!, "STATUS"), "utf8")).trim()).toBe("DOOMED");
    expect(output).toContain("build.sources[0] wf-broken 1.0:");
    expect(output).toContain("--- end of build.log ---");
    expect(output).toContain("wf-broken: this build step fails on purpose");
    expect(output).toMatch(/hint: deb-orchestrator why \d+/);
    expect((await withHub(def, (client) => buildOf(client, "wf-broken"))).state).toBe("failed");
  });

  it("Ctrl-C during a build cancels it on the hub and leaves nothing running", async () => {
    const def = await definition("wf-slow", "sleep 600");
    // as a terminal's Ctrl-C: SIGINT to the compose (its builds run in process groups of their own)
    const compose = spawn(process.execPath, composeArgs(def), { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let building = false;
    let pending = "";
    compose.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      // the buildArch task is open on the builder; give deb-mock time to reach the build step
      if (!building && /task \d+ buildArch amd64 open on /.test(pending)) {
        building = true;
        setTimeout(() => compose.kill("SIGINT"), 15_000);
      }
    });
    compose.stderr.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
    });
    const code = await new Promise<number | null>((resolve) => compose.on("close", (c) => resolve(c)));
    expect(code, pending).toBe(130);
    expect(building, pending).toBe(true);
    expect(pending).toMatch(/wf-slow-1-\d+\.0: TERMINATED/);
    // canceled on the hub while its build step ran (the buildArch task's log shows it started)
    const { build, log } = await withHub(def, async (client) => {
      const build = await buildOf(client, "wf-slow");
      const { children } = await client.getTask(build.task!);
      const buildArch = children.find((c) => c.method === "buildArch")!;
      return { build, log: await (await client.taskLog(buildArch.id, "build.log")).text() };
    });
    expect(build.state).toBe("canceled");
    expect(log).toContain("sleep 600");
    // the builder's deb-mock and its `sleep 600` went with the compose: nothing of the test is left
    for (let i = 0; i < 20 && (await processesOfTheTest()).length > 0; i++) await new Promise((r) => setTimeout(r, 500));
    expect(await processesOfTheTest()).toEqual([]);
    expect(await readFile("/proc/self/mountinfo", "utf8")).not.toContain(dir);
  });
});
