import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireLock } from "@debian-bootc/core";
import { defaultMirror } from "@debian-bootc/debian";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "./build.js";
import { CacheLayout } from "./cache-layout.js";
import { resolveProfile } from "./environment.js";
import { init } from "./init.js";
import { buildResultSchema } from "./result.js";
import { runInEnvironment } from "./run-in-environment.js";
import { cleanStaleSnapshots, listSnapshots } from "./snapshot.js";
import { readDscText } from "./source-input.js";

// System tier: real mmdebstrap, bubblewrap, overlayfs and builds from trixie's archive. Needs root.
// The base is cached in /var/cache/deb-mock between runs; a fresh machine pays mmdebstrap once.

const fixtures = join(import.meta.dirname, "__fixtures__", "packages");
const cliPath = join(import.meta.dirname, "cli.ts");
let work: string;
let cacheRoot: string;

/** Lines of /proc/mounts that concern deb-mock (other suites may mount things meanwhile). */
async function ourMounts(): Promise<string[]> {
  const text = await readFile("/proc/mounts", "utf8");
  return text.split("\n").filter((l) => l.includes(cacheRoot) || /^deb-mock /.test(l));
}

/** A source package's .dsc and files, downloaded from the mirror's pool (for a fallback when the suite lacks them). */
async function downloadSource(poolDir: string, dscName: string): Promise<string> {
  const mirror = await defaultMirror();
  const dir = await mkdtemp(join(work, "src-"));
  const get = async (name: string) => {
    const response = await fetch(`${mirror}/${poolDir}/${name}`);
    if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
    await writeFile(join(dir, name), Buffer.from(await response.arrayBuffer()));
  };
  await get(dscName);
  const dsc = readDscText(await readFile(join(dir, dscName), "utf8"), dscName);
  for (const file of dsc.files) await get(file);
  return join(dir, dscName);
}

function startCli(args: string[]): ChildProcess {
  return spawn(process.execPath, ["--conditions=source", "--import", "tsx", cliPath, ...args], {
    cwd: join(import.meta.dirname, "..", "..", ".."),
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Wait until a snapshot of this process tree has `text` in its build.log; returns the snapshot id. */
async function waitForBuildLog(text: string, timeoutMs = 300_000): Promise<string> {
  const layout = new CacheLayout(cacheRoot);
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    for (const snap of await listSnapshots(layout)) {
      const log = await readFile(join(layout.snapshotDir(snap.id), "logs", "build.log"), "utf8").catch(() => "");
      if (log.includes(text)) return snap.id;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no build.log with '${text}' within ${timeoutMs} ms`);
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
}

let mountsBefore: string[];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "deb-mock-system-"));
  cacheRoot = (await resolveProfile({})).cache.root;
  mountsBefore = await ourMounts();
  await init({});
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
  expect(await ourMounts()).toEqual(mountsBefore);
});

describe("deb-mock builds (trixie)", () => {
  it("builds hello; its .deb installs in a fresh snapshot and runs", async () => {
    let { result, resultDir } = await build({ source: "hello", resultDir: join(work, "hello") });
    if (result.error?.code === "SOURCE_FETCH_FAILED") {
      // the mirror in use lacks a file of trixie's hello: build the same upstream from a .dsc instead
      const dsc = await downloadSource("pool/main/h/hello", "hello_2.10-3.dsc");
      ({ result, resultDir } = await build({ source: dsc, resultDir: join(work, "hello") }));
    }
    expect(result.status, JSON.stringify(result.error)).toBe("success");
    expect(result.exitCode).toBe(0);
    expect(buildResultSchema.parse(JSON.parse(await readFile(join(resultDir, "result.json"), "utf8")))).toEqual(result);
    const names = result.artifacts.map((a) => a.name);
    const deb = names.find((n) => /^hello_.*_amd64\.deb$/.test(n));
    expect(deb).toBeDefined();
    expect(names.some((n) => n.startsWith("hello-dbgsym_"))).toBe(true);
    expect(names.some((n) => n.endsWith(".buildinfo"))).toBe(true);
    expect(names.some((n) => n.endsWith(".changes"))).toBe(true);
    for (const log of ["build.log", "root.log", "state.log", "installed-packages.log"]) expect(existsSync(join(resultDir, log))).toBe(true);
    expect(await readFile(join(resultDir, "installed-packages.log"), "utf8")).toMatch(/^dpkg-dev \S+ all$/m);
    // result.json carries the same as data: the installed packages, and each artifact's kind and digest
    const installedLog = await readFile(join(resultDir, "installed-packages.log"), "utf8");
    expect(result.installed?.map((p) => `${p.name} ${p.version} ${p.arch}\n`).join("")).toBe(installedLog);
    expect(result.artifacts.find((a) => a.name === deb)?.kind).toBe("deb");
    expect(result.artifacts.find((a) => a.name.endsWith(".changes"))?.kind).toBe("changes");
    expect(result.artifacts.find((a) => a.name === deb)?.sha256).toBe(
      createHash("sha256")
        .update(await readFile(join(resultDir, deb!)))
        .digest("hex"),
    );
    expect(result.sourceDateEpoch).toBeGreaterThan(1_000_000_000);
    expect(result.phases.map((p) => p.name)).toEqual(["environment", "prepare-source", "unpack", "install-build-deps", "build"]);

    const run = await runInEnvironment({ packages: [join(resultDir, deb!)], commands: [["hello"], ["dpkg-query", "-W", "hello"]] });
    expect(run.results[0]!.stdout).toBe("Hello, world!\n");
    expect(run.results[1]!.stdout).toMatch(/^hello\t/);
  });

  it("builds pigz from trixie's deb-src (debhelper and zlib1g-dev)", async () => {
    const { result, resultDir } = await build({ source: "pigz", resultDir: join(work, "pigz"), nocheck: true });
    expect(result.status, JSON.stringify(result.error)).toBe("success");
    expect(result.artifacts.map((a) => a.name)).toEqual(expect.arrayContaining([expect.stringMatching(/^pigz_.*_amd64\.deb$/)]));
    const installed = await readFile(join(resultDir, "installed-packages.log"), "utf8");
    expect(installed).toMatch(/^zlib1g-dev /m);
    expect(installed).toMatch(/^debhelper /m);
    expect(result.debBuildOptions).toMatch(/^parallel=\d+ nocheck$/);
  });

  it("reports a failing package with exit code 1 and a build.log that shows why", async () => {
    const { result, resultDir } = await build({ source: join(fixtures, "fails-to-build"), resultDir: join(work, "fails") });
    expect(result.status).toBe("build-failed");
    expect(result.exitCode).toBe(1);
    expect(result.error?.code).toBe("BUILD_FAILED");
    const log = await readFile(join(resultDir, "build.log"), "utf8");
    expect(log).toContain("fails-to-build: deliberate failure in the build step (exit 7)");
    expect(result.phases.at(-1)).toMatchObject({ name: "build", status: "failed" });
  });

  it("reports unsatisfiable Build-Depends with exit code 3", async () => {
    const { result, resultDir } = await build({ source: join(fixtures, "unsatisfiable"), resultDir: join(work, "unsat") });
    expect(result.status).toBe("dependencies-failed");
    expect(result.exitCode).toBe(3);
    expect(result.error?.message).toContain("deb-mock-no-such-package-for-tests");
    // apt's verdict parsed, not its raw output
    expect(result.unsatisfied).toEqual([
      {
        package: "satisfy:command-line",
        type: "Depends",
        relation: "deb-mock-no-such-package-for-tests (>= 1.0)",
        reasons: ["it is not installable"],
      },
    ]);
    expect(result.error?.message).toBe(
      "build dependencies of unsatisfiable cannot be satisfied: deb-mock-no-such-package-for-tests (>= 1.0) (it is not installable)",
    );
    expect(await readFile(join(resultDir, "state.log"), "utf8")).toContain("FAILED install-build-deps");
  });

  it("gives dpkg-buildpackage no network unless asked", async () => {
    const off = await build({ source: join(fixtures, "needs-network"), resultDir: join(work, "net-off") });
    expect(off.result.exitCode).toBe(1);
    expect(await readFile(join(off.resultDir, "build.log"), "utf8")).toContain("network-probe: unreachable");
    // the same package builds when the network is on: the probe itself works
    const on = await build({ source: join(fixtures, "needs-network"), resultDir: join(work, "net-on"), network: true });
    expect(on.result.status, JSON.stringify(on.result.error)).toBe("success");
    expect(await readFile(join(on.resultDir, "build.log"), "utf8")).toContain("network-probe: reached the mirror");
  });

  it("runs two builds of the same profile in parallel", async () => {
    const [a, b] = await Promise.all([
      build({ source: join(fixtures, "tiny-ok"), resultDir: join(work, "par-a") }),
      build({ source: join(fixtures, "tiny-ok"), resultDir: join(work, "par-b") }),
    ]);
    expect(a.result.status).toBe("success");
    expect(b.result.status).toBe("success");
    expect(a.result.snapshot).not.toBe(b.result.snapshot);
    // reproducible fixture: both builds made the same .deb
    const debA = a.result.artifacts.find((x) => x.name.endsWith(".deb"));
    const debB = b.result.artifacts.find((x) => x.name.endsWith(".deb"));
    expect(debA?.sha256).toBe(debB?.sha256);
  });
});

describe("the sandbox", () => {
  it("has the host's /sys, read-only", async () => {
    const run = await runInEnvironment({
      commands: [
        ["cat", "/sys/devices/system/cpu/online"],
        ["sh", "-c", 'grep " /sys " /proc/self/mountinfo'],
      ],
    });
    expect(run.results[0]!.stdout).toBe(await readFile("/sys/devices/system/cpu/online", "utf8"));
    expect(run.results[1]!.stdout).toMatch(/ \/sys ro[, ]/);
  });
});

describe("interruption and crashes", () => {
  it("leaves no mount on the host while a build runs, and a SIGKILLed build leaves nothing that the next run does not clean", async () => {
    const child = startCli(["build", join(fixtures, "slow-build"), "--resultdir", join(work, "killed")]);
    const exited = exitOf(child);
    const id = await waitForBuildLog("slow-build: sleeping");
    // the overlay lives only in the build's private mount namespace
    expect(await ourMounts()).toEqual(mountsBefore);
    child.kill("SIGKILL");
    expect((await exited).signal).toBe("SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
    expect(await ourMounts()).toEqual(mountsBefore);
    expect(existsSync(join(work, "killed"))).toBe(false);
    // the sandbox died with its parent: no process still runs the fixture's sleep
    const procs = await readdir("/proc");
    const sleeping: string[] = [];
    for (const pid of procs.filter((p) => /^\d+$/.test(p))) {
      const cmd = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      if (cmd === "sleep\u0000120\u0000") sleeping.push(pid);
    }
    expect(sleeping).toEqual([]);
    // no stale lock: the killed build's lock is free (another deb-mock sharing the cache, a test file run
    // beside this one, may hold it while apt runs: minutes at most; a leaked holder would hold it for good)
    const layout = new CacheLayout(cacheRoot);
    const lock = await acquireLock(layout.lock("range-apt-archives"), { timeoutMs: 300_000 });
    await lock.release();
    // and the snapshot it left is removed by the next run's clean-up: ours, or that of another deb-mock
    // sharing the cache (another test file building meanwhile) which got there first
    if (existsSync(layout.snapshotDir(id))) expect(await cleanStaleSnapshots(layout)).toContain(id);
    expect(existsSync(layout.snapshotDir(id))).toBe(false);
  });

  it("stops cleanly on SIGINT: exit code 130, an 'interrupted' result, no snapshot left", async () => {
    const resultDir = join(work, "interrupted");
    const child = startCli(["build", join(fixtures, "slow-build"), "--resultdir", resultDir]);
    const exited = exitOf(child);
    const id = await waitForBuildLog("slow-build: sleeping");
    child.kill("SIGINT");
    expect((await exited).code).toBe(130);
    const result = buildResultSchema.parse(JSON.parse(await readFile(join(resultDir, "result.json"), "utf8")));
    expect(result.status).toBe("interrupted");
    expect(result.exitCode).toBe(130);
    expect(existsSync(new CacheLayout(cacheRoot).snapshotDir(id))).toBe(false);
    expect(await ourMounts()).toEqual(mountsBefore);
  });
});

describe("the CLI", () => {
  it("maps a malformed profile to exit code 2 with the file and field", async () => {
    const config = await mkdtemp(join(work, "xdg-"));
    await mkdir(join(config, "deb-mock"));
    await writeFile(join(config, "deb-mock", "debian-trixie-amd64.yaml"), "network: sometimes\n");
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", cliPath, "status"], {
      env: { ...process.env, XDG_CONFIG_HOME: config },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const { code } = await exitOf(child);
    expect(code).toBe(2);
    expect(stderr).toContain(join(config, "deb-mock", "debian-trixie-amd64.yaml"));
    expect(stderr).toContain("network");
  });
});
