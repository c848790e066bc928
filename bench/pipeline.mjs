#!/usr/bin/env node
// The whole pipeline of the README's main job (deb-bootc-compose compose examples/debian-bootc.yaml:
// embedded deb-orchestrator hub and builder, two deb-mock builds, the destination tag's signed
// repository, then every compose phase), timed cold and warm and broken down by step, with the
// reference tools run side by side in the same run: sbuild for the builds, a plain mmdebstrap of the
// same package set for the rootfs. Checks the goal "warm rerun under 2 minutes". See bench/README.md.
//
// Where the figures come from (nothing is timed twice):
//   - the compose command: its wall clock (this process), logs/phases.json (per phase), the `step` +
//     `durationMs` lines of the phase logs (rootfs and image-build steps), logs/build.log (when the
//     embedded hub was up, when the last source was submitted), compose/metadata/builds.json (which
//     builds were made or reused, their hub tasks);
//   - the hub: after the cold compose, its data directory is opened once more with deb-orchestrator's
//     startHub (the embedded hub is gone by then) and its JSON API read: the task tree of each build
//     (build -> buildArch -> tagBuild -> newRepo, with createdAt/startedAt/completedAt) and each
//     buildArch task's result.json (deb-mock's own startedAt/finishedAt and phases);
//   - sbuild: its wall clock, per source and for both together; mmdebstrap: its wall clock.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { jsonLines, mmdebstrapReference, readJson, readText } from "./lib/compose-logs.mjs";
import { hostMirror } from "./lib/host-mirror.mjs";
import { runCommand } from "./lib/proc.mjs";
import { asUser, mkdirForUser, prepareSbuild, SBUILD_PACKAGES, sbuildSummary } from "./lib/sbuild-setup.mjs";
import { minutesOptionMs, REPORT_OPTIONS, startBench, wholeNumberOption } from "./lib/start.mjs";
import { fmt, numberOrNull, renderTable, summarize } from "./lib/stats.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const COMPOSE_CLI = join(REPO, "packages", "deb-bootc-compose", "dist", "cli.js");
const ORCHESTRATOR_LOCAL = join(REPO, "packages", "deb-orchestrator", "dist", "local.js");
const ORCHESTRATOR_CLIENT = join(REPO, "packages", "deb-orchestrator", "dist", "index.js");
const GOAL_WARM_SECONDS = 120;
const DEFAULT_PARALLEL = Math.max(1, Math.min(2, os.availableParallelism()));

const HELP = `Usage: node bench/pipeline.mjs [options]   (as root; build the tools first: npx tsc -b packages/deb-bootc-compose)

Times the README's main job, 'deb-bootc-compose compose examples/debian-bootc.yaml', end to end and
by step, twice per run:

  cold  a fresh orchestrator data directory (--orchestrator-data), compose output and compose cache
        (--cache-dir): the embedded hub starts from nothing, both sources are really built by
        deb-mock, the tag repository is generated, indexes and .debs are downloaded. deb-mock's own
        cache (/var/cache/deb-mock: base, build-dependency layers, .debs) stays warm unless
        --cold-deb-mock.
  warm  the same definition again on the same data directory and cache, nothing changed: every build
        must be reused (checked in compose/metadata/builds.json; the bench fails otherwise). The goal:
        a warm rerun under ${GOAL_WARM_SECONDS} s (the verdict is printed; it is a benchmark, not a test).

By step: each compose phase (logs/phases.json) with the steps the phase logs record (rootfs:
mmdebstrap, customize, kernel, initramfs, ostree-layout; image-build: deploy, partition, ...); in the
build phase, from the hub's task tree: per build the queue wait, the source reaching the builder,
deb-mock's build (and its phases), upload + import, tagging and the tag repository's regeneration.

Reference tools, in the same run (ratio = ours / reference):
  build   sbuild (unshare mode, as --user) builds the same two .dsc the compose built, ${DEFAULT_PARALLEL} at a time
          (as many as the embedded builder runs at once), with the DEB_BUILD_OPTIONS deb-mock used.
          Sets sbuild up first when needed (packages ${SBUILD_PACKAGES.join(", ")}, the user, ~/.sbuildrc,
          the base tarball), as bench/deb-mock-vs-sbuild.mjs does.
  rootfs  mmdebstrap of exactly the compose's package set (compose/metadata/packages.json) from the
          compose's own APT snapshot (copy://, no network), same variant, into a directory: no dpkg
          path filters, no customisation, no initramfs (INITRD=No, as in the rootfs phase).

One run takes about 15 minutes on 2 cores (cold compose 6-7 min, warm 4-6, references 3) and about
5 GB under --workdir; earlier runs' directories are removed when the next one starts (--keep keeps them).

Options:
  --runs N              cold + warm pairs (default 1)
  --skip-boot           skip the compose's test phase (boot under QEMU): --skip-phase test
  --cold-deb-mock       cold runs use an empty deb-mock cache (cache.root under the run directory, set
                        through a deb-mock site-defaults.yaml in a private XDG_CONFIG_HOME); the warm
                        run reuses it. Adds the base creation and build-dependency downloads.
  --definition FILE     compose definition (default examples/debian-bootc.yaml)
  --workdir DIR         runs, logs and reference trees (default /var/tmp/pipeline-bench)
  --user NAME           unprivileged user sbuild runs as (default builder)
  --sbuild-parallel N   sbuild builds at a time (default ${DEFAULT_PARALLEL})
  --skip-sbuild         no sbuild reference
  --skip-mmdebstrap     no mmdebstrap reference
  --mirror URI          Debian archive for sbuild's base tarball (default: the host's APT sources)
  --timeout MINUTES     per compose, per sbuild build and per mmdebstrap (default 60)
  --keep                keep every run's directories
  --json                print all figures as one JSON object on stdout (progress goes to stderr)
  --render FILE         print the tables of a run saved with --json, and nothing else
  -h, --help            this text

Examples:
  sudo node bench/pipeline.mjs
  sudo node bench/pipeline.mjs --runs 3 --skip-boot --json > pipeline.json
  node bench/pipeline.mjs --render pipeline.json

Exit codes: 0 every compose finished and every reference ran (a goal not met still gives 0);
1 a compose failed, a warm build was not reused (or a cold one was), or a reference failed;
64 bad options; 77 not root.
`;

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: "1" },
      "skip-boot": { type: "boolean", default: false },
      "cold-deb-mock": { type: "boolean", default: false },
      definition: { type: "string", default: join(REPO, "examples", "debian-bootc.yaml") },
      workdir: { type: "string", default: "/var/tmp/pipeline-bench" },
      user: { type: "string", default: "builder" },
      "sbuild-parallel": { type: "string", default: String(DEFAULT_PARALLEL) },
      "skip-sbuild": { type: "boolean", default: false },
      "skip-mmdebstrap": { type: "boolean", default: false },
      mirror: { type: "string" },
      timeout: { type: "string", default: "60" },
      keep: { type: "boolean", default: false },
      ...REPORT_OPTIONS,
    },
    strict: true,
  });
  const runs = wholeNumberOption(values, "runs");
  const parallel = wholeNumberOption(values, "sbuild-parallel");
  const timeoutMs = minutesOptionMs(values, "timeout");
  const workdir = resolve(values.workdir);
  // deb-mock's cache.root must be an absolute path without spaces, commas, colons or backslashes
  if (values["cold-deb-mock"] && !/^\/[^\s,:\\]+$/.test(workdir))
    throw new Error(`--workdir ${workdir}: with --cold-deb-mock it must have no spaces, commas, colons or backslashes`);
  return { ...values, runs, parallel, timeoutMs, workdir, definition: resolve(values.definition) };
}

const say = (msg) => process.stderr.write(`[pipeline] ${msg}\n`);
const seconds = (ms) => (typeof ms === "number" && Number.isFinite(ms) ? ms / 1000 : null);
const isoMs = (text) => {
  const t = Date.parse(text ?? "");
  return Number.isFinite(t) ? t : null;
};

async function uptime() {
  const r = await runCommand(["uptime"]).catch(() => undefined);
  return { text: r?.stdout.trim() ?? null, loadavg: os.loadavg().map((v) => Math.round(v * 100) / 100) };
}

async function main() {
  const start = startBench({
    name: "pipeline",
    help: HELP,
    parseOptions,
    renderReport,
    rootReason: "the compose mounts overlays and runs mmdebstrap; sbuild's set-up adds a user",
  });
  if (start.opts === undefined) return start.exit;
  const opts = start.opts;
  for (const file of [COMPOSE_CLI, ORCHESTRATOR_LOCAL, ORCHESTRATOR_CLIENT]) {
    if (!existsSync(file)) {
      process.stderr.write(`pipeline: ${file} not found; build the tools first: npx tsc -b packages/deb-bootc-compose\n`);
      return 1;
    }
  }
  if (!existsSync(opts.definition)) {
    process.stderr.write(`pipeline: --definition ${opts.definition} does not exist\n`);
    return 64;
  }
  const definition = parseYaml(readFileSync(opts.definition, "utf8"));
  const suite = definition?.suite ?? "trixie";
  const arch = (await runCommand(["dpkg", "--print-architecture"])).stdout.trim() || "amd64";
  const logs = join(opts.workdir, "logs");
  mkdirSync(logs, { recursive: true });
  const holder = takeWorkdirLock(opts.workdir);
  if (holder) {
    process.stderr.write(`pipeline: another pipeline bench (pid ${holder}) is using ${opts.workdir}; wait for it or pass --workdir\n`);
    return 1;
  }
  const load = { before: await uptime(), after: null };
  say(`work directory ${opts.workdir}; ${opts.runs} run(s); load before: ${load.before.text}`);

  const setup = opts["skip-sbuild"]
    ? {}
    : await prepareSbuild({
        user: opts.user,
        suite,
        arch,
        mirror: opts.mirror ?? hostMirror(),
        refresh: false,
        logFile: join(logs, `mmdebstrap-sbuild-${suite}.log`),
        say,
      });
  const mmdebstrapVersion = (await runCommand(["mmdebstrap", "--version"]).catch(() => undefined))?.stdout.trim() ?? null;

  const runs = [];
  const problems = [];
  for (let i = 1; i <= opts.runs; i++) {
    if (!opts.keep && i > 1) {
      say(`removing run ${i - 1}'s directories (--keep keeps them)`);
      rmSync(join(opts.workdir, `run-${i - 1}`), { recursive: true, force: true });
    }
    const run = await oneRun(i, opts, { suite, arch, setup, logs });
    runs.push(run);
    problems.push(...run.problems);
  }
  load.after = await uptime();
  say(`load after: ${load.after.text}`);

  const report = buildReport({ opts, suite, arch, setup, mmdebstrapVersion, runs, load });
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(renderReport(report));
  if (problems.length > 0) {
    say(`${problems.length} problem(s):\n  ${problems.join("\n  ")}`);
    return 1;
  }
  return 0;
}

/**
 * One bench per work directory: WORKDIR/.lock holds the pid; returns the pid of a live holder, else
 * takes the lock (removed when this process exits) and returns null.
 */
function takeWorkdirLock(workdir) {
  const file = join(workdir, ".lock");
  const pid = Number(readText(file));
  if (pid > 0 && pid !== process.pid) {
    try {
      process.kill(pid, 0);
      return pid;
    } catch {
      // a stale lock: its process is gone
    }
  }
  writeFileSync(file, `${process.pid}\n`);
  process.on("exit", () => {
    if (Number(readText(file)) === process.pid) rmSync(file, { force: true });
  });
  return null;
}

/** One cold + warm pair, then the reference tools. */
async function oneRun(i, opts, { suite, arch, setup, logs }) {
  const runDir = join(opts.workdir, `run-${i}`);
  rmSync(runDir, { recursive: true, force: true });
  const dirs = {
    orchestrator: join(runDir, "orchestrator"),
    output: join(runDir, "composes"),
    cache: join(runDir, "compose-cache"),
    config: join(runDir, "config"),
    debMockCache: join(runDir, "deb-mock-cache"),
  };
  for (const d of [dirs.output, dirs.cache]) mkdirSync(d, { recursive: true });
  const env = { ...process.env };
  // the bench measures the embedded hub and builder: no configured hub may take over
  delete env.DEB_ORCHESTRATOR_HUB;
  delete env.DEB_ORCHESTRATOR_TOKEN;
  delete env.DEB_BOOTC_COMPOSE_CACHE;
  if (opts["cold-deb-mock"]) {
    mkdirSync(join(dirs.config, "deb-mock"), { recursive: true });
    writeFileSync(
      join(dirs.config, "deb-mock", "site-defaults.yaml"),
      `# written by bench/pipeline.mjs --cold-deb-mock: an empty deb-mock cache for this run\ncache:\n  root: ${dirs.debMockCache}\n`,
    );
    env.XDG_CONFIG_HOME = dirs.config;
  }
  const problems = [];
  const run = { index: i, dir: runDir, cold: null, warm: null, sbuild: null, mmdebstrap: null, problems };

  for (const kind of ["cold", "warm"]) {
    const c = await composeRun(kind, i, opts, dirs, env, logs);
    run[kind] = c;
    if (c.exitCode !== 0 || !c.composeDir) {
      problems.push(`run ${i} ${kind}: the compose exited with ${c.exitCode}${c.status ? ` (${c.status})` : ""}; log ${c.log}`);
      return run;
    }
    if (c.status !== "FINISHED")
      problems.push(`run ${i} ${kind}: compose status ${c.status} (a failable deliverable failed); see ${c.composeDir}/logs`);
    if (c.hubMode && c.hubMode !== "embedded")
      problems.push(`run ${i} ${kind}: the compose used a ${c.hubMode} hub, not the embedded one; the figures are not the main job's`);
    const wrong = c.builds.filter((b) => b.reused !== (kind === "warm"));
    if (c.builds.length === 0) problems.push(`run ${i} ${kind}: compose/metadata/builds.json lists no builds`);
    if (wrong.length > 0) {
      const what = kind === "warm" ? "were rebuilt instead of reused" : "were reused although the data directory was fresh";
      const message = `run ${i} ${kind}: ${wrong.map((b) => `${b.source} ${b.version}`).join(", ")} ${what} (compose/metadata/builds.json)`;
      say(`FAILED: ${message}`);
      problems.push(message);
    }
    if (kind === "cold") c.hub = await readHub(dirs.orchestrator, c.builds).catch((error) => ({ error: error.message }));
    if (c.hub?.error) say(`could not read the hub's task tree: ${c.hub.error}`);
  }

  if (!opts["skip-sbuild"]) {
    run.sbuild = await sbuildReference(run.cold, runDir, setup.entry, suite, arch, opts, logs, i);
    for (const b of run.sbuild.builds.filter((x) => !x.ok)) problems.push(`run ${i}: sbuild ${b.name} failed (${b.why}); log ${b.log}`);
    if (run.sbuild.error) problems.push(`run ${i}: sbuild reference: ${run.sbuild.error}`);
  }
  if (!opts["skip-mmdebstrap"]) {
    run.mmdebstrap = await mmdebstrapReference(run.cold, runDir, suite, arch, opts, logs, i, say);
    for (const m of [run.mmdebstrap, run.mmdebstrap.filtered].filter(Boolean))
      if (!m.ok) problems.push(`run ${i}: mmdebstrap reference failed (${m.why}); log ${m.log}`);
  }
  return run;
}

async function composeRun(kind, i, opts, dirs, env, logs) {
  const log = join(logs, `run-${i}-${kind}-compose.log`);
  rmSync(log, { force: true });
  const before = new Set(readdirSync(dirs.output));
  const argv = [
    "node",
    COMPOSE_CLI,
    "compose",
    opts.definition,
    "--output",
    dirs.output,
    "--cache-dir",
    dirs.cache,
    "--orchestrator-data",
    dirs.orchestrator,
    ...(opts["skip-boot"] ? ["--skip-phase", "test"] : []),
  ];
  const loadBefore = os.loadavg()[0];
  say(`run ${i} ${kind}: deb-bootc-compose compose ${argv.slice(3).join(" ")} (log ${log}) ...`);
  const r = await runCommand(argv, { cwd: REPO, env, logFile: log, timeoutMs: opts.timeoutMs });
  const loadAfter = os.loadavg()[0];
  // the new compose directory (not latest-NAME, not the hidden .deb-bootc-compose state)
  const made = readdirSync(dirs.output).filter(
    (n) => !before.has(n) && !n.startsWith(".") && !n.startsWith("latest-") && statSync(join(dirs.output, n)).isDirectory(),
  );
  const composeDir = made.length === 1 ? join(dirs.output, made[0]) : null;
  const result = {
    kind,
    exitCode: r.timedOut ? "timeout" : r.code,
    seconds: r.seconds,
    log,
    composeDir,
    load1: { before: round2(loadBefore), after: round2(loadAfter) },
    status: null,
    phases: [],
    steps: {},
    buildTimeline: null,
    builds: [],
    hubMode: null,
  };
  if (!composeDir) {
    say(`  ${fmt(r.seconds)} s, exit ${result.exitCode}: no compose directory was made`);
    return result;
  }
  result.status = readText(join(composeDir, "STATUS"))?.trim() ?? null;
  result.phases = (readJson(join(composeDir, "logs", "phases.json"))?.phases ?? []).map((p) => ({
    name: p.name,
    outcome: p.outcome,
    startedAt: p.startedAt ?? null,
    seconds: seconds(p.durationMs),
  }));
  for (const p of result.phases) {
    const steps = phaseSteps(join(composeDir, "logs", `${p.name}.log`));
    if (steps.length > 0) result.steps[p.name] = steps;
  }
  const builds = readJson(join(composeDir, "compose", "metadata", "builds.json"))?.payload;
  result.hubMode = builds?.hub?.mode ?? null;
  result.builds = (builds?.builds ?? []).map((b) => ({
    source: b.source,
    version: b.version,
    reused: b.reused,
    buildId: b.buildId,
    task: b.task,
    arches: b.arches,
  }));
  result.buildTimeline = buildTimeline(join(composeDir, "logs", "build.log"));
  result.ostreeChanged = ostreeChanged(join(composeDir, "logs", "ostree.log"));
  say(
    `  ${fmt(r.seconds)} s, exit ${result.exitCode}, ${result.status}; ` +
      result.phases
        .filter((p) => p.outcome !== "skipped")
        .map((p) => `${p.name} ${fmt(p.seconds)}`)
        .join(", "),
  );
  return result;
}

function round2(v) {
  return Math.round(v * 100) / 100;
}

/**
 * The steps a phase log records: `step` + `durationMs` lines (rootfs: "rootfs step X done"; image-build:
 * "disk step X"), and the test phase's "boot test KIND passed|failed" lines (marker, ab-update).
 */
function phaseSteps(file) {
  const seen = new Set();
  const out = [];
  for (const l of jsonLines(file)) {
    if (typeof l.durationMs !== "number") continue;
    const name =
      typeof l.step === "string"
        ? l.step
        : typeof l.kind === "string" && /^boot test /.test(l.msg ?? "")
          ? `boot test: ${l.kind}${l.passed === false ? " (failed)" : ""}`
          : null;
    if (!name) continue;
    const id = `${name} ${l.variant} ${l.arch} ${l.durationMs} ${l.time}`;
    if (seen.has(id)) continue; // the same record logged twice
    seen.add(id);
    out.push({ name, seconds: l.durationMs / 1000, ...(l.variant ? { variant: l.variant, arch: l.arch } : {}) });
  }
  return out;
}

/** Whether the ostree phase made a new commit (`changed` in logs/ostree.log): then the test phase also runs the A/B update test. */
function ostreeChanged(file) {
  const lines = jsonLines(file).filter((l) => typeof l.changed === "boolean");
  return lines.length ? lines.some((l) => l.changed) : null;
}

/** Moments of the build phase from logs/build.log (ms since the epoch). */
function buildTimeline(file) {
  const lines = jsonLines(file);
  const at = (msg) => isoMs(lines.find((l) => l.msg === msg)?.time);
  const submitted = lines.filter((l) => l.msg === "build submitted").map((l) => isoMs(l.time));
  return {
    started: at("phase started"),
    hubReady:
      at("started an embedded deb-orchestrator hub and builder") ??
      at("using the running deb-orchestrator up") ??
      at("using a deb-orchestrator hub"),
    lastSubmitted: submitted.length ? Math.max(...submitted) : null,
    finished: at("phase finished") ?? at("phase failed"),
  };
}

/**
 * Opens the orchestrator data directory with deb-orchestrator's own hub (in this process, on a free
 * loopback port) and reads each build's task tree and deb-mock's result.json through the JSON API.
 */
async function readHub(dataDir, builds) {
  const { startHub } = await import(pathToFileURL(ORCHESTRATOR_LOCAL).href);
  const { HubClient } = await import(pathToFileURL(ORCHESTRATOR_CLIENT).href);
  const hub = await startHub({ db: `sqlite:${join(dataDir, "hub.db")}`, dataDir, host: "127.0.0.1", port: 0 });
  try {
    const client = new HubClient({ url: hub.url });
    const out = [];
    for (const b of builds) {
      if (b.task === null || b.task === undefined) continue;
      const task = await client.getTask(b.task);
      const child = (method) => task.children.filter((c) => c.method === method);
      const arches = [];
      for (const t of child("buildArch")) {
        const debMock = await client
          .open("downloadTaskFile", { params: { id: t.id, name: "result.json" } })
          .then((response) => response.json())
          .catch(() => null);
        arches.push({ task: t.id, arch: t.arch, state: t.state, host: t.host, ...times(t), debMock: debMockFigures(debMock) });
      }
      const tag = child("tagBuild")[0];
      const repo = child("newRepo")[0];
      out.push({
        source: b.source,
        version: b.version,
        task: b.task,
        build: times(task),
        arches,
        tag: tag ? { task: tag.id, ...times(tag) } : null,
        newRepo: repo ? { task: repo.id, ...times(repo), result: repo.result } : null,
      });
    }
    return { builds: out };
  } finally {
    await hub.close();
  }
}

function times(t) {
  return { createdAt: t.createdAt ?? null, startedAt: t.startedAt ?? null, completedAt: t.completedAt ?? null };
}

function debMockFigures(result) {
  if (!result) return null;
  return {
    status: result.status,
    startedAt: isoMs(result.startedAt),
    finishedAt: isoMs(result.finishedAt),
    seconds: seconds(result.durationMs),
    debBuildOptions: result.debBuildOptions ?? null,
    buildDepsLayer: result.buildDepsLayer ?? null,
    phases: (result.phases ?? []).map((p) => ({ name: p.name, seconds: seconds(p.durationMs), status: p.status })),
  };
}

/**
 * The build step per source, from the hub's timestamps: queue wait (buildArch created -> started on a
 * builder), source to builder (started -> deb-mock's startedAt: the builder downloads the source),
 * deb-mock, upload + import (deb-mock's finishedAt -> buildArch completed: uploads, then the hub
 * imports the binaries), tag (buildArch completed -> tagBuild completed), and the regeneration of the
 * destination tag's repository: its newRepo task, less the time it waited for another regeneration of
 * the same tag (the hub runs one at a time per tag).
 */
function buildFigures(hub) {
  const builds = hub?.builds ?? [];
  const repos = builds.map((b) => b.newRepo).filter(Boolean);
  return builds.map((b) => {
    const a = b.arches[0];
    const dm = a?.debMock;
    let lockWait = null;
    let publish = null;
    if (b.newRepo?.createdAt && b.newRepo.completedAt) {
      const start = b.newRepo.createdAt;
      const blockers = repos.filter((r) => r !== b.newRepo && r.createdAt < start && r.completedAt > start);
      const free = blockers.length ? Math.max(...blockers.map((r) => r.completedAt)) : start;
      lockWait = free - start;
      publish = b.newRepo.completedAt - free;
    }
    const diff = (x, y) => (typeof x === "number" && typeof y === "number" ? (x - y) / 1000 : null);
    return {
      source: b.source,
      total: diff(b.build.completedAt, b.build.createdAt),
      queueWait: diff(a?.startedAt, a?.createdAt),
      sourceToBuilder: diff(dm?.startedAt, a?.startedAt),
      debMock: dm?.seconds ?? null,
      debMockPhases: dm?.phases ?? [],
      buildDepsLayerReused: dm?.buildDepsLayer?.reused ?? null,
      uploadImport: diff(a?.completedAt, dm?.finishedAt),
      tag: diff(b.tag?.completedAt, a?.completedAt),
      repoLockWait: lockWait === null ? null : lockWait / 1000,
      repoRegeneration: publish === null ? null : publish / 1000,
      createdAt: b.build.createdAt,
      completedAt: b.build.completedAt,
    };
  });
}

/** sbuild builds the .dsc files the cold compose built, --sbuild-parallel at a time. */
async function sbuildReference(cold, runDir, entry, suite, arch, opts, logs, i) {
  const out = { parallel: opts.parallel, seconds: null, builds: [], debBuildOptions: null, error: null };
  const sourcesDir = cold?.composeDir ? join(cold.composeDir, "work", "build", "sources") : null;
  if (!sourcesDir || !existsSync(sourcesDir)) {
    out.error = "the cold compose left no sources in work/build/sources";
    return out;
  }
  // deb-mock's DEB_BUILD_OPTIONS (from its result.json), so both tools compile the same way
  out.debBuildOptions = cold.hub?.builds?.flatMap((b) => b.arches).find((a) => a.debMock?.debBuildOptions)?.debMock.debBuildOptions ?? null;
  const base = join(runDir, "sbuild");
  await mkdirForUser(entry, base);
  const jobs = [];
  for (const dir of readdirSync(sourcesDir).sort()) {
    const src = join(sourcesDir, dir);
    const dsc = readdirSync(src).find((n) => n.endsWith(".dsc"));
    if (!dsc) continue;
    const name = dsc.split("_")[0];
    const copy = join(base, `${name}-source`);
    await mkdirForUser(entry, copy);
    for (const f of readdirSync(src)) if (statSync(join(src, f)).isFile()) copyFileSync(join(src, f), join(copy, f));
    const work = join(base, name);
    await mkdirForUser(entry, work);
    jobs.push({ name, dsc: join(copy, dsc), work, log: join(logs, `run-${i}-sbuild-${name}.log`) });
  }
  const env = { ...process.env, ...(out.debBuildOptions ? { DEB_BUILD_OPTIONS: out.debBuildOptions } : {}) };
  const one = async (job) => {
    rmSync(job.log, { force: true });
    const argv = [
      "sbuild",
      "--chroot-mode=unshare",
      "-d",
      suite,
      `--arch=${arch}`,
      "--arch-all",
      "--no-run-lintian",
      "--no-run-autopkgtest",
      "--no-run-piuparts",
      job.dsc,
    ];
    say(`run ${i} reference: sbuild ${job.name} (as ${entry.name} in ${job.work}; log ${job.log}) ...`);
    const r = await asUser(entry.name, argv, { cwd: job.work, env, logFile: job.log, timeoutMs: opts.timeoutMs });
    const summary = sbuildSummary(job.work);
    const ok = r.code === 0 && summary.Status !== "failed";
    const why = r.timedOut ? "timed out" : `exit ${r.code}${summary["Fail-Stage"] ? `, Fail-Stage ${summary["Fail-Stage"]}` : ""}`;
    say(`  sbuild ${job.name}: ${fmt(r.seconds)} s, ${ok ? "ok" : `FAILED (${why})`}`);
    return {
      name: job.name,
      ok,
      why: ok ? null : why,
      seconds: r.seconds,
      buildSeconds: numberOrNull(summary["Build-Time"]),
      installSeconds: numberOrNull(summary["Install-Time"]),
      log: summary.logFile ?? job.log,
    };
  };
  const started = process.hrtime.bigint();
  const queue = [...jobs];
  const workers = Array.from({ length: Math.min(opts.parallel, jobs.length) }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) out.builds.push(await one(job));
  });
  await Promise.all(workers);
  out.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  out.builds.sort((a, b) => a.name.localeCompare(b.name));
  return out;
}

/**
 * The rows of one run's table: { key, label, depth, cold, warm, refLabel, ref } with seconds (or a
 * string such as "reused"). Keys are stable across runs, so the summary takes medians by key.
 */
function stepRows(run) {
  const rows = [];
  const add = (key, label, depth, cold, warm, refLabel = null, ref = null) => rows.push({ key, label, depth, cold, warm, refLabel, ref });
  const { cold, warm } = run;
  add("total", "total (compose command, wall clock)", 0, cold?.seconds ?? null, warm?.seconds ?? null);
  const phaseNames = [...new Set([...(cold?.phases ?? []), ...(warm?.phases ?? [])].map((p) => p.name))];
  const phase = (c, name) => {
    const p = c?.phases.find((x) => x.name === name);
    if (!p) return null;
    return p.outcome === "skipped" ? "skipped" : p.seconds;
  };
  const sb = run.sbuild;
  const md = run.mmdebstrap;
  const cb = buildFigures(cold?.hub);
  for (const name of phaseNames) {
    if (name === "build") {
      add(
        "phase:build",
        "build",
        1,
        phase(cold, name),
        phase(warm, name),
        sb?.seconds != null ? `sbuild, ${sb.builds.length} sources, ${sb.parallel} at a time` : null,
        sb?.builds.every((b) => b.ok) ? sb.seconds : null,
      );
      const tl = (c) => c?.buildTimeline;
      const gap = (a, b) => (typeof a === "number" && typeof b === "number" ? (a - b) / 1000 : null);
      add(
        "build:hub",
        "embedded hub + builder start",
        2,
        gap(tl(cold)?.hubReady, tl(cold)?.started),
        gap(tl(warm)?.hubReady, tl(warm)?.started),
      );
      add(
        "build:submit",
        "target, sources prepared, uploaded, submitted",
        2,
        gap(tl(cold)?.lastSubmitted, tl(cold)?.hubReady),
        warm?.builds.every((b) => b.reused) ? "reused" : gap(tl(warm)?.lastSubmitted, tl(warm)?.hubReady),
      );
      if (warm?.builds.every((b) => b.reused))
        add("build:lookup", "target + sources identified, builds looked up", 2, null, gap(tl(warm)?.finished, tl(warm)?.hubReady));
      if (cb.length > 0) {
        const first = Math.min(...cb.map((b) => b.createdAt));
        const last = Math.max(...cb.map((b) => b.completedAt));
        add("build:builds", "builds: first submitted to last closed", 2, (last - first) / 1000, "reused");
        add("build:tail", "after the last build closed", 2, gap(tl(cold)?.finished, last), null);
      }
      for (const b of cb) {
        const s = sb?.builds.find((x) => x.name === b.source);
        const k = `build:${b.source}`;
        add(`${k}:total`, `${b.source}: submitted to closed`, 2, b.total, "reused");
        add(`${k}:queue`, "queue wait (buildArch created -> started)", 3, b.queueWait, "reused");
        add(`${k}:fetch`, "source to the builder", 3, b.sourceToBuilder, "reused");
        add(
          `${k}:deb-mock`,
          `deb-mock build${b.buildDepsLayerReused === true ? " (deps layer reused)" : b.buildDepsLayerReused === false ? " (deps layer made)" : ""}`,
          3,
          b.debMock,
          "reused",
          s ? `sbuild ${b.source}` : null,
          s?.ok ? s.seconds : null,
        );
        for (const p of b.debMockPhases) add(`${k}:deb-mock:${p.name}`, p.name, 4, p.seconds, null);
        add(`${k}:upload`, "upload + import", 3, b.uploadImport, "reused");
        add(`${k}:tag`, "tag into the destination tag", 3, b.tag, "reused");
        if (b.repoLockWait) add(`${k}:repo-wait`, "repo regeneration: waiting for the other", 3, b.repoLockWait, "reused");
        add(`${k}:repo`, "tag repository regeneration (newRepo)", 3, b.repoRegeneration, "reused");
      }
      continue;
    }
    const isRootfs = name === "rootfs";
    add(
      `phase:${name}`,
      name,
      1,
      phase(cold, name),
      phase(warm, name),
      isRootfs && md ? `mmdebstrap, same ${md.packages} packages` : null,
      isRootfs && md?.ok ? md.seconds : null,
    );
    const stepNames = [...new Set([...(cold?.steps[name] ?? []), ...(warm?.steps[name] ?? [])].map((s) => s.name))];
    for (const step of stepNames) {
      const sum = (c) => {
        const list = (c?.steps[name] ?? []).filter((s) => s.name === step);
        return list.length ? list.reduce((a, s) => a + s.seconds, 0) : null;
      };
      const ref = isRootfs && step === "mmdebstrap" && md?.ok;
      add(`step:${name}:${step}`, step, 2, sum(cold), sum(warm), ref ? "mmdebstrap, same packages" : null, ref ? md.seconds : null);
      if (isRootfs && step === "mmdebstrap" && md?.filtered)
        add(
          `step:${name}:${step}:filtered`,
          `${step} (again)`,
          2,
          sum(cold),
          sum(warm),
          "the same + dpkg path filters",
          md.filtered.ok ? md.filtered.seconds : null,
        );
    }
  }
  return rows;
}

function buildReport({ opts, suite, arch, setup, mmdebstrapVersion, runs, load }) {
  const perRun = runs.map((run) => ({ ...run, rows: stepRows(run) }));
  // medians by key over the runs, in the first run's order
  const order = [];
  const byKey = new Map();
  for (const run of perRun) {
    for (const row of run.rows) {
      if (!byKey.has(row.key)) {
        byKey.set(row.key, { ...row, colds: [], warms: [], refs: [] });
        order.push(row.key);
      }
      const entry = byKey.get(row.key);
      if (typeof row.cold === "number") entry.colds.push(row.cold);
      if (typeof row.warm === "number") entry.warms.push(row.warm);
      if (typeof row.ref === "number") entry.refs.push(row.ref);
    }
  }
  const summary = order.map((key) => {
    const e = byKey.get(key);
    const textual = (v) => (typeof v === "string" ? v : null);
    return {
      key,
      label: e.label,
      depth: e.depth,
      refLabel: e.refLabel,
      cold: e.colds.length ? summarize(e.colds).median : textual(e.cold),
      warm: e.warms.length ? summarize(e.warms).median : textual(e.warm),
      ref: e.refs.length ? summarize(e.refs).median : null,
      coldRange: summarize(e.colds),
      warmRange: summarize(e.warms),
    };
  });
  const warmTotals = runs.filter((r) => r.warm?.exitCode === 0).map((r) => r.warm.seconds);
  const warmMedian = summarize(warmTotals).median;
  const heaviest = summary
    .filter((s) => s.depth === 1 && typeof s.warm === "number")
    .sort((a, b) => b.warm - a.warm)
    .slice(0, 4)
    .map((s) => ({ phase: s.label, seconds: s.warm }));
  return {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      kernel: os.release(),
      debianVersion: readText("/etc/debian_version")?.trim() ?? null,
      node: process.version,
    },
    load,
    definition: opts.definition,
    suite,
    arch,
    options: {
      runs: opts.runs,
      skipBoot: opts["skip-boot"],
      coldDebMock: opts["cold-deb-mock"],
      sbuildParallel: opts.parallel,
      skipSbuild: opts["skip-sbuild"],
      skipMmdebstrap: opts["skip-mmdebstrap"],
      workdir: opts.workdir,
    },
    tools: {
      sbuild: opts["skip-sbuild"] ? null : { version: setup.sbuildVersion, tarball: setup.tarball?.path ?? null },
      mmdebstrap: mmdebstrapVersion,
    },
    runs: perRun.map(({ problems, ...r }) => ({ ...r, problems })),
    summary,
    goal: {
      goal: `warm rerun under ${GOAL_WARM_SECONDS} s`,
      warmSeconds: warmMedian,
      met: warmMedian === null ? null : warmMedian < GOAL_WARM_SECONDS,
      testPhaseSkipped: opts["skip-boot"],
      heaviestWarmPhases: heaviest,
    },
  };
}

function cell(v, decimals = 1) {
  if (typeof v === "string") return v;
  return fmt(v, decimals);
}

function ratio(ours, ref) {
  return typeof ours === "number" && typeof ref === "number" && ref > 0 ? fmt(ours / ref, 2) : "";
}

function table(rows) {
  return renderTable(
    ["step", "cold s", "warm s", "reference", "ref s", "cold/ref", "warm/ref"],
    rows.map((r) => [
      `${"  ".repeat(Math.max(0, r.depth - 1))}${r.label}`,
      cell(r.cold),
      cell(r.warm),
      r.refLabel ?? "",
      r.refLabel ? fmt(r.ref) : "",
      ratio(r.cold, r.ref),
      ratio(r.warm, r.ref),
    ]),
  );
}

function renderReport(r) {
  const lines = [""];
  lines.push(
    `pipeline: ${r.definition.replace(`${REPO}/`, "")}, ${r.suite}/${r.arch}, ${r.runs.length} run(s), ${r.machine.cpus} CPUs, ` +
      `Debian ${r.machine.debianVersion ?? "?"}, ${r.date}`,
  );
  lines.push(
    `options: ${r.options.skipBoot ? "test phase skipped (--skip-boot)" : "with the boot test"}; deb-mock cache ${r.options.coldDebMock ? "EMPTY for cold runs (--cold-deb-mock)" : "warm (/var/cache/deb-mock)"}`,
  );
  lines.push(`load before: ${r.load.before.text ?? r.load.before.loadavg.join(", ")}`);
  lines.push(`load after:  ${r.load.after?.text ?? "-"}`);
  if (r.tools.sbuild) lines.push(`sbuild: ${r.tools.sbuild.version ?? "?"}; mmdebstrap: ${r.tools.mmdebstrap ?? "?"}`);
  for (const run of r.runs) {
    lines.push("");
    const status = (c) => (c ? `${c.status ?? `exit ${c.exitCode}`}, load ${c.load1.before}->${c.load1.after}` : "not run");
    lines.push(`run ${run.index}: cold ${status(run.cold)}; warm ${status(run.warm)}`);
    if (run.warm?.ostreeChanged) {
      const tested = run.warm.phases.some((p) => p.name === "test" && p.outcome !== "skipped");
      lines.push(
        `  the warm compose made a new OSTree commit${tested ? ", so its test phase also ran the A/B update test from the cold image" : " (its test phase, when run, adds the A/B update test)"}`,
      );
    }
    if (run.sbuild?.debBuildOptions) lines.push(`  sbuild with DEB_BUILD_OPTIONS="${run.sbuild.debBuildOptions}" (deb-mock's)`);
    lines.push(table(run.rows));
    for (const p of run.problems) lines.push(`  PROBLEM: ${p}`);
  }
  if (r.runs.length > 1) {
    lines.push("");
    lines.push(`summary: medians of ${r.runs.length} runs`);
    lines.push(table(r.summary));
  }
  lines.push("");
  lines.push("cold: fresh orchestrator data, compose output and compose cache; warm: the same again, every build reused.");
  lines.push("Per build (hub task tree): queue wait, source to the builder, deb-mock (its result.json), upload + import,");
  lines.push("tagging, the destination tag's repository regeneration. ratio = ours / reference (below 1: ours is faster).");
  lines.push("");
  const g = r.goal;
  const verdict = g.met === null ? "n/a (no warm run finished)" : g.met ? "MET" : "NOT MET";
  lines.push(`goal: ${g.goal}${g.testPhaseSkipped ? " (test phase skipped)" : ""}: warm ${fmt(g.warmSeconds)} s -> ${verdict}`);
  if (g.met === false && g.heaviestWarmPhases.length)
    lines.push(`  heaviest warm phases: ${g.heaviestWarmPhases.map((h) => `${h.phase} ${fmt(h.seconds)} s`).join(", ")}`);
  lines.push("");
  return lines.join("\n");
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`pipeline: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
