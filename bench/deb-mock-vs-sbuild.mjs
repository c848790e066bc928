#!/usr/bin/env node
// Side-by-side benchmark: the same source packages built with sbuild (unshare mode, over an
// mmdebstrap tarball of the suite) and with deb-mock (warm cache), on this machine in the same run.
// Prints per package median/min/max wall-clock seconds for each tool and the ratio deb-mock/sbuild,
// checks the goals of issue 3 (hello ratio <= 0.4, snapshot creation < 1 s), and checks that the
// .debs of repeated builds are byte-identical. See bench/README.md.
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fetchSourcePackages } from "./lib/apt-sources.mjs";
import { compareRuns, compareTools, debHashes } from "./lib/deb-hashes.mjs";
import { hostMirror } from "./lib/host-mirror.mjs";
import { runCommand } from "./lib/proc.mjs";
import { asUser, mkdirForUser, prepareSbuild, SBUILD_PACKAGES, sbuildSummary } from "./lib/sbuild-setup.mjs";
import { minutesOptionMs, REPORT_OPTIONS, startBench, wholeNumberOption } from "./lib/start.mjs";
import { fmt, numberOrNull, renderTable, summarize } from "./lib/stats.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DEB_MOCK_CLI = join(REPO, "packages", "deb-mock", "dist", "cli.js");
const GOAL_HELLO_RATIO = 0.4;
const GOAL_SNAPSHOT_SECONDS = 1;

const HELP = `Usage: node bench/deb-mock-vs-sbuild.mjs [options]   (as root)

Builds each source package N times with sbuild (unshare mode) and N times with deb-mock (after one
untimed 'deb-mock init'), in the same run, and prints median/min/max seconds and deb-mock/sbuild.
Sets sbuild up first if needed (packages ${SBUILD_PACKAGES.join(", ")}; user; ~/.sbuildrc; base tarball).

Options:
  --runs N               builds per package and tool (default 3)
  --packages LIST        comma-separated source packages, NAME or NAME=VERSION (default hello,less)
  --suite SUITE          suite of the build environments (default trixie)
  --source-suites LIST   suites whose deb-src the sources come from (default: --suite)
  --mirror URI           Debian archive (default: the host's, read from /etc/apt/sources.list*)
  --workdir DIR          sources, logs and results (default /var/tmp/deb-mock-bench)
  --user NAME            unprivileged user sbuild runs as (default builder)
  --deb-mock-profile P   passed as 'deb-mock -r P' (default: none, deb-mock's default profile;
                         debian-SUITE-ARCH when --suite is not trixie)
  --timeout MINUTES      per build (default 30)
  --refresh-tarball      make sbuild's base tarball anew even if it exists
  --skip-sbuild          only deb-mock
  --skip-deb-mock        only sbuild
  --setup-only           set sbuild up and fetch the sources, build nothing
  --json                 print the figures as JSON on stdout (progress still goes to stderr)
  --render FILE          print the table of a run saved with --json, and nothing else
  -h, --help             this text
`;

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: "3" },
      packages: { type: "string", default: "hello,less" },
      suite: { type: "string", default: "trixie" },
      "source-suites": { type: "string" },
      mirror: { type: "string" },
      workdir: { type: "string", default: "/var/tmp/deb-mock-bench" },
      user: { type: "string", default: "builder" },
      "deb-mock-profile": { type: "string" },
      timeout: { type: "string", default: "30" },
      "refresh-tarball": { type: "boolean", default: false },
      "skip-sbuild": { type: "boolean", default: false },
      "skip-deb-mock": { type: "boolean", default: false },
      "setup-only": { type: "boolean", default: false },
      ...REPORT_OPTIONS,
    },
    strict: true,
  });
  const runs = wholeNumberOption(values, "runs");
  const timeoutMs = minutesOptionMs(values, "timeout");
  const packages = values.packages
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (packages.length === 0) throw new Error("--packages: expected at least one source package name");
  const sourceSuites = (values["source-suites"] ?? values.suite)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    ...values,
    runs,
    timeoutMs,
    packages,
    sourceSuites,
    workdir: resolve(values.workdir),
  };
}

const say = (msg) => process.stderr.write(`[bench] ${msg}\n`);

async function main() {
  const start = startBench({
    name: "deb-mock-vs-sbuild",
    help: HELP,
    parseOptions,
    renderReport,
    rootReason: "it installs packages, creates the build user, and deb-mock mounts overlays",
  });
  if (start.opts === undefined) return start.exit;
  const opts = start.opts;
  const arch = (await runCommand(["dpkg", "--print-architecture"])).stdout.trim() || "amd64";
  const mirror = opts.mirror ?? hostMirror();
  const logs = join(opts.workdir, "logs");
  mkdirSync(logs, { recursive: true });
  say(`work directory ${opts.workdir}; suite ${opts.suite}/${arch}; ${opts.runs} run(s) per package and tool`);

  // 1. sbuild set-up (idempotent) and the sources.
  const setup = opts["skip-sbuild"]
    ? {}
    : await prepareSbuild({
        user: opts.user,
        suite: opts.suite,
        arch,
        mirror,
        refresh: opts["refresh-tarball"],
        logFile: join(logs, `mmdebstrap-${opts.suite}.log`),
        say,
      });
  const sources = await fetchSourcePackages({
    packages: opts.packages,
    suites: opts.sourceSuites,
    mirror,
    aptDir: join(opts.workdir, "apt"),
    outDir: join(opts.workdir, "sources"),
    say,
  });
  if (opts["setup-only"]) {
    say("--setup-only: set-up done, nothing built");
    return 0;
  }

  // 2. sbuild runs.
  const results = sources.map((src) => ({ ...src, sbuild: { runs: [] }, debMock: { runs: [] } }));
  if (!opts["skip-sbuild"]) {
    for (const pkg of results) {
      for (let i = 1; i <= opts.runs; i++) pkg.sbuild.runs.push(await sbuildRun(pkg, i, setup.entry, arch, opts, logs));
    }
  }

  // 3. deb-mock runs (warm: one untimed init first). Probed only now: it may have been built meanwhile.
  const debMock = opts["skip-deb-mock"] ? { available: false, commands: new Set() } : await probeDebMock();
  const snapshot = { source: null, runs: [], note: null };
  const chrootTrue = [];
  const debMockInfo = { available: debMock.available, reason: debMock.reason, initSeconds: null, profileArgs: [] };
  if (opts["skip-deb-mock"]) {
    debMockInfo.available = false;
    debMockInfo.reason = "skipped (--skip-deb-mock)";
  } else if (!debMock.available) {
    say(`deb-mock unavailable: ${debMock.reason}; measuring sbuild only`);
  } else {
    const profile = opts["deb-mock-profile"] ?? (opts.suite === "trixie" ? undefined : `debian-${opts.suite}-${arch}`);
    const pre = profile ? ["-r", profile] : [];
    debMockInfo.profileArgs = pre;
    if (debMock.commands.has("init")) {
      say(`deb-mock ${[...pre, "init"].join(" ")} (untimed warm-up; log ${join(logs, "deb-mock-init.log")})`);
      const init = await runCommand(["node", DEB_MOCK_CLI, ...pre, "init"], {
        logFile: join(logs, "deb-mock-init.log"),
        timeoutMs: opts.timeoutMs,
      });
      debMockInfo.initSeconds = init.seconds;
      if (init.code !== 0) say(`deb-mock init exited with ${init.code} (see the log); the builds will show whether the cache is usable`);
    } else {
      say("deb-mock has no 'init' verb; the first timed build may include creating the base");
    }
    for (const pkg of results) {
      for (let i = 1; i <= opts.runs; i++) pkg.debMock.runs.push(await debMockRun(pkg, i, pre, opts, logs));
    }
    // A fresh environment end to end, from the CLI: `deb-mock chroot -- true` (snapshot, namespaces,
    // teardown and Node start-up). Reported on its own, and the snapshot figure when result.json has none.
    if (debMock.commands.has("chroot")) {
      for (let i = 1; i <= opts.runs; i++) {
        const r = await runCommand(["node", DEB_MOCK_CLI, ...pre, "chroot", "--", "true"], {
          logFile: join(logs, `deb-mock-chroot-true-${i}.log`),
          timeoutMs: 120_000,
        });
        if (r.code === 0) chrootTrue.push(r.seconds);
        say(`deb-mock chroot -- true, run ${i}/${opts.runs}: ${r.code === 0 ? `${fmt(r.seconds, 2)} s` : `exit ${r.code}`}`);
      }
    }
    // Snapshot creation: from result.json phases when deb-mock records one, else `chroot -- true`.
    const fromResults = results.flatMap((p) => p.debMock.runs).filter((r) => typeof r.snapshotSeconds === "number");
    if (fromResults.length > 0) {
      const names = [...new Set(fromResults.map((r) => r.snapshotPhase))].join("', '");
      snapshot.source = `result.json phase '${names}' of ${fromResults.length} build(s)`;
      snapshot.runs = fromResults.map((r) => r.snapshotSeconds);
    } else if (chrootTrue.length > 0) {
      snapshot.source = "wall time of 'deb-mock chroot -- true' (snapshot + namespaces + teardown + Node start-up: an upper bound)";
      snapshot.runs = chrootTrue;
    } else {
      snapshot.note =
        "deb-mock exposes no snapshot timing (no snapshot/environment phase in result.json, no working 'chroot' verb): skipped";
      say(snapshot.note);
    }
  }
  if (!debMockInfo.available) snapshot.note = `deb-mock unavailable: ${debMockInfo.reason}`;

  // 4. Figures.
  const report = buildReport({ opts, arch, setup, results, snapshot, chrootTrue, debMockInfo });
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(renderReport(report));
  const failed = report.packages.flatMap((p) => [...p.sbuild.runs, ...p.debMock.runs]).filter((r) => !r.ok);
  if (failed.length > 0) {
    say(`${failed.length} build(s) failed; logs: ${failed.map((r) => r.log).join(", ")}`);
    return 1;
  }
  return 0;
}

/** Whether the deb-mock CLI is built and has a `build` verb; the verbs its --help lists. */
async function probeDebMock() {
  if (!existsSync(DEB_MOCK_CLI)) {
    return { available: false, reason: `${DEB_MOCK_CLI} not found (build it: npx tsc -b packages/deb-mock)`, commands: new Set() };
  }
  const help = await runCommand(["node", DEB_MOCK_CLI, "--help"], { timeoutMs: 60_000 });
  const text = `${help.stdout}\n${help.stderr}`;
  const commandsSection = text.split(/^Commands:\s*$/m)[1] ?? "";
  const commands = new Set([...commandsSection.matchAll(/^\s{2,}([a-z][a-z0-9-]*)\b/gm)].map((m) => m[1]));
  if (!commands.has("build")) {
    return { available: false, reason: "'node packages/deb-mock/dist/cli.js --help' lists no 'build' command yet", commands };
  }
  return { available: true, reason: null, commands };
}

async function sbuildRun(pkg, i, entry, arch, opts, logs) {
  const runDir = join(opts.workdir, "sbuild", pkg.name, `run-${i}`);
  rmSync(runDir, { recursive: true, force: true });
  await mkdirForUser(entry, join(opts.workdir, "sbuild"));
  await mkdirForUser(entry, join(opts.workdir, "sbuild", pkg.name));
  await mkdirForUser(entry, runDir);
  const log = join(logs, `sbuild-${pkg.name}-${i}.log`);
  rmSync(log, { force: true });
  const argv = [
    "sbuild",
    "--chroot-mode=unshare",
    "-d",
    opts.suite,
    `--arch=${arch}`,
    "--no-run-lintian",
    "--no-run-autopkgtest",
    "--no-run-piuparts",
    pkg.dsc,
  ];
  say(`sbuild ${pkg.name} ${pkg.version}, run ${i}/${opts.runs} (as ${entry.name} in ${runDir}) ...`);
  const r = await asUser(entry.name, argv, { cwd: runDir, logFile: log, timeoutMs: opts.timeoutMs });
  const summary = sbuildSummary(runDir);
  const ok = r.code === 0 && summary.Status !== "failed";
  const why = r.timedOut ? "timed out" : `exit ${r.code}${summary["Fail-Stage"] ? `, Fail-Stage: ${summary["Fail-Stage"]}` : ""}`;
  say(`  ${fmt(r.seconds)} s, ${ok ? "ok" : `FAILED (${why})`}`);
  return {
    ok,
    exitCode: r.code,
    seconds: r.seconds,
    buildSeconds: numberOrNull(summary["Build-Time"]),
    installSeconds: numberOrNull(summary["Install-Time"]),
    status: summary.Status ?? null,
    failStage: summary["Fail-Stage"] ?? null,
    dir: runDir,
    log: summary.logFile ?? log,
    debs: debHashes(runDir),
  };
}

async function debMockRun(pkg, i, pre, opts, logs) {
  const resultDir = join(opts.workdir, "deb-mock", pkg.name, `run-${i}`);
  rmSync(resultDir, { recursive: true, force: true });
  mkdirSync(dirname(resultDir), { recursive: true });
  const log = join(logs, `deb-mock-${pkg.name}-${i}.log`);
  rmSync(log, { force: true });
  say(`deb-mock build ${pkg.name} ${pkg.version}, run ${i}/${opts.runs} (--resultdir ${resultDir}) ...`);
  const r = await runCommand(["node", DEB_MOCK_CLI, ...pre, "build", pkg.dsc, "--resultdir", resultDir], {
    logFile: log,
    timeoutMs: opts.timeoutMs,
  });
  const result = readJson(join(resultDir, "result.json"));
  // Snapshot creation: a phase named like "snapshot", else "environment" (Environment.open: the
  // overlay snapshot of the cached base and its mounts).
  const snapshotPhase = phaseSeconds(result, /snapshot/i) ?? phaseSeconds(result, /^environment$/i);
  const ok = r.code === 0;
  say(`  ${fmt(r.seconds)} s, ${ok ? "ok" : `FAILED (${r.timedOut ? "timed out" : `exit ${r.code}`}; log ${log})`}`);
  return {
    ok,
    exitCode: r.code,
    seconds: r.seconds,
    snapshotSeconds: snapshotPhase?.seconds ?? null,
    snapshotPhase: snapshotPhase?.name ?? null,
    buildSeconds: phaseSeconds(result, /^(build|dpkg-buildpackage)$/i)?.seconds ?? null,
    installSeconds: phaseSeconds(result, /build-deps/i)?.seconds ?? null,
    dir: resultDir,
    log,
    debs: debHashes(resultDir),
  };
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

/**
 * { name, seconds } of the first phase in result.json whose name matches `pattern`, or null. Phases may be an array of
 * objects or an object keyed by name; a duration may be given in ms (durationMs, duration_ms, ms,
 * elapsedMs), in seconds (seconds, durationSeconds, duration_s) or as start/end timestamps.
 */
function phaseSeconds(result, pattern) {
  if (!result) return null;
  const phases = result.phases;
  const list = Array.isArray(phases)
    ? phases
    : phases && typeof phases === "object"
      ? Object.entries(phases).map(([name, v]) => (typeof v === "number" ? { name, seconds: v } : { name, ...v }))
      : [];
  const phase = list.find((p) => p && pattern.test(String(p.name ?? p.phase ?? p.id ?? "")));
  if (!phase) return null;
  const name = String(phase.name ?? phase.phase ?? phase.id);
  for (const key of ["durationMs", "duration_ms", "ms", "elapsedMs"])
    if (typeof phase[key] === "number") return { name, seconds: phase[key] / 1000 };
  for (const key of ["seconds", "durationSeconds", "duration_s"]) if (typeof phase[key] === "number") return { name, seconds: phase[key] };
  const start = Date.parse(phase.start ?? phase.startedAt ?? phase.started ?? "");
  const end = Date.parse(phase.end ?? phase.endedAt ?? phase.finishedAt ?? phase.ended ?? "");
  return Number.isFinite(start) && Number.isFinite(end) ? { name, seconds: (end - start) / 1000 } : null;
}

function medianOf(values) {
  return summarize(values.filter((v) => typeof v === "number")).median;
}

function toolFigures(runs) {
  const okRuns = runs.filter((r) => r.ok);
  return {
    ...summarize(okRuns.map((r) => r.seconds)),
    failed: runs.length - okRuns.length,
    buildStepMedian: medianOf(okRuns.map((r) => r.buildSeconds)),
    installStepMedian: medianOf(okRuns.map((r) => r.installSeconds)),
    // Everything but dpkg-buildpackage: the environment's cost, less disturbed by a busy machine.
    restMedian: medianOf(okRuns.map((r) => (typeof r.buildSeconds === "number" ? r.seconds - r.buildSeconds : null))),
    debsAcrossRuns: compareRuns(okRuns.map((r) => r.debs)),
    runs,
  };
}

function buildReport({ opts, arch, setup, results, snapshot, chrootTrue, debMockInfo }) {
  const packages = results.map((p) => {
    const sbuild = toolFigures(p.sbuild.runs);
    const debMock = toolFigures(p.debMock.runs);
    const ratio = sbuild.median && debMock.median ? debMock.median / sbuild.median : null;
    const restRatio = sbuild.restMedian && debMock.restMedian != null ? debMock.restMedian / sbuild.restMedian : null;
    const firstOk = (runs) => runs.find((r) => r.ok)?.debs ?? {};
    const crossTool = sbuild.n > 0 && debMock.n > 0 ? compareTools(firstOk(p.sbuild.runs), firstOk(p.debMock.runs)) : null;
    return { name: p.name, version: p.version, dsc: p.dsc, sbuild, debMock, ratio, restRatio, debsSbuildVsDebMock: crossTool };
  });
  const hello = packages.find((p) => p.name === "hello");
  const snap = summarize(snapshot.runs);
  const goals = [
    {
      goal: `hello: deb-mock/sbuild median <= ${GOAL_HELLO_RATIO}`,
      value: hello?.ratio ?? null,
      met: hello?.ratio == null ? null : hello.ratio <= GOAL_HELLO_RATIO,
    },
    {
      goal: `snapshot creation < ${GOAL_SNAPSHOT_SECONDS} s (median)`,
      value: snap.median,
      met: snap.median == null ? null : snap.median < GOAL_SNAPSHOT_SECONDS,
    },
  ];
  return {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      kernel: os.release(),
      debianVersion: existsSync("/etc/debian_version") ? readFileSync("/etc/debian_version", "utf8").trim() : null,
      node: process.version,
    },
    suite: opts.suite,
    sourceSuites: opts.sourceSuites,
    arch,
    runsPerTool: opts.runs,
    sbuild: opts["skip-sbuild"]
      ? { skipped: true }
      : {
          version: setup.sbuildVersion,
          tarball: setup.tarball,
          command: `sbuild --chroot-mode=unshare -d ${opts.suite} --arch=${arch} --no-run-lintian --no-run-autopkgtest --no-run-piuparts PKG.dsc`,
        },
    debMock: debMockInfo,
    packages,
    snapshot: { ...snap, source: snapshot.source, note: snapshot.note, runs: snapshot.runs },
    chrootTrue: { ...summarize(chrootTrue), runs: chrootTrue },
    goals,
  };
}

function renderReport(r) {
  const lines = [];
  lines.push("");
  lines.push(
    `deb-mock vs sbuild: ${r.suite}/${r.arch}, ${r.runsPerTool} run(s) per tool, ${r.machine.cpus} CPUs, ` +
      `Debian ${r.machine.debianVersion ?? "?"}, ${r.date}`,
  );
  if (!r.sbuild.skipped) lines.push(`sbuild: ${r.sbuild.version ?? "?"}; base tarball ${r.sbuild.tarball?.path}`);
  lines.push(
    `deb-mock: ${r.debMock.available ? `available${r.debMock.initSeconds != null ? ` (warm-up init ${fmt(r.debMock.initSeconds)} s, untimed)` : ""}` : `UNAVAILABLE: ${r.debMock.reason}`}`,
  );
  lines.push("");
  const rows = [];
  for (const p of r.packages) {
    for (const [tool, f] of [
      ["sbuild", p.sbuild],
      ["deb-mock", p.debMock],
    ]) {
      if (f.runs.length === 0) continue;
      rows.push([
        `${p.name} ${p.version}`,
        tool,
        `${f.n}${f.failed ? ` (+${f.failed} failed)` : ""}`,
        fmt(f.median),
        fmt(f.min),
        fmt(f.max),
        fmt(f.installStepMedian, 0),
        fmt(f.buildStepMedian, 0),
        fmt(f.restMedian),
        tool === "deb-mock" ? fmt(p.ratio, 2) : "",
        tool === "deb-mock" ? fmt(p.restRatio, 2) : "",
      ]);
    }
  }
  lines.push(
    renderTable(["package", "tool", "runs", "median s", "min s", "max s", "deps s", "build s", "rest s", "ratio", "rest ratio"], rows),
  );
  lines.push("medians; deps: installing build-dependencies (sbuild's Install-Time; deb-mock's build-deps phase);");
  lines.push("build: dpkg-buildpackage (sbuild's Build-Time; deb-mock's 'build' phase); rest: total - build, the");
  lines.push("environment's share; ratio: deb-mock/sbuild of the total medians; rest ratio: the same of the rest.");
  lines.push("");
  for (const p of r.packages) {
    for (const [tool, f] of [
      ["sbuild", p.sbuild],
      ["deb-mock", p.debMock],
    ]) {
      const c = f.debsAcrossRuns;
      if (c.identical === null) continue;
      const files = Object.entries(c.files)
        .map(([n, h]) => `${n} ${h.slice(0, 16)}`)
        .join(", ");
      lines.push(
        c.identical
          ? `${tool} ${p.name}: .debs of ${c.runs} runs byte-identical (sha256: ${files})`
          : `${tool} ${p.name}: .debs DIFFER across ${c.runs} runs: ${c.differing.join(", ")}`,
      );
    }
    const x = p.debsSbuildVsDebMock;
    if (x) {
      lines.push(
        `sbuild vs deb-mock ${p.name}: ${x.same.length} .deb(s) identical, ${x.different.length} different` +
          `${x.different.length ? ` (${x.different.join(", ")})` : ""}` +
          `${x.onlyA.length ? `, only from sbuild: ${x.onlyA.join(", ")}` : ""}` +
          `${x.onlyB.length ? `, only from deb-mock: ${x.onlyB.join(", ")}` : ""}`,
      );
    }
  }
  lines.push("");
  if (r.snapshot.source) {
    lines.push(
      `snapshot creation: median ${fmt(r.snapshot.median, 3)} s, min ${fmt(r.snapshot.min, 3)}, max ${fmt(r.snapshot.max, 3)} (${r.snapshot.source})`,
    );
  } else {
    lines.push(`snapshot creation: not measured (${r.snapshot.note ?? "no data"})`);
  }
  if (r.chrootTrue.n > 0) {
    lines.push(
      `deb-mock chroot -- true (fresh environment end to end, incl. Node start-up): median ${fmt(r.chrootTrue.median, 2)} s, ` +
        `min ${fmt(r.chrootTrue.min, 2)}, max ${fmt(r.chrootTrue.max, 2)}`,
    );
  }
  lines.push("");
  lines.push(
    renderTable(
      ["goal", "value", "met"],
      r.goals.map((g) => [g.goal, fmt(g.value, 3), g.met === null ? "n/a (not measured)" : g.met ? "yes" : "NO"]),
    ),
  );
  lines.push("");
  return lines.join("\n");
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`deb-mock-vs-sbuild: ${error.message}\n`);
    process.exit(1);
  },
);
