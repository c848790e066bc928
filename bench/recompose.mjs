#!/usr/bin/env node
// A no-op recompose: the README's main job (examples/debian-bootc.yaml) composed once, then again with
// nothing changed on the same orchestrator data, compose output and cache, timed against the goal
// (under 10 s locally, issue #19) with the first compose and a plain mmdebstrap of the same package set
// as references in the same run; with --start-hub also through a `deb-orchestrator up` hub on loopback
// (goal: under 15 s). See bench/README.md.
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { mmdebstrapReference, readJson, readText } from "./lib/compose-logs.mjs";
import { runCommand } from "./lib/proc.mjs";
import { minutesOptionMs, REPORT_OPTIONS, startBench, wholeNumberOption } from "./lib/start.mjs";
import { fmt, renderTable, summarize } from "./lib/stats.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const COMPOSE_CLI = join(REPO, "packages", "deb-bootc-compose", "dist", "cli.js");
const ORCHESTRATOR_CLI = join(REPO, "packages", "deb-orchestrator", "dist", "cli.js");
const GOAL_LOCAL_SECONDS = 10;
const GOAL_HUB_SECONDS = 15;
/**
 * The phases whose work a no-op recompose must take over from the previous compose (their notes say so;
 * rootfs: the tree from the cache, or with --images-on hub the image task's results from the previous compose).
 */
const REUSED = { rootfs: /reused from/, ostree: /reused/, oci: /reused/, lint: /reused/, "image-build": /reused/ };

const HELP = `Usage: node bench/recompose.mjs [options]   (as root; build the tools first: npm run build)

Times a no-op recompose of the README's main job ('deb-bootc-compose compose examples/debian-bootc.yaml',
the test phase skipped unless --boot): a first compose on a fresh orchestrator data directory, compose
output and compose cache under --workdir, then --runs recomposes with nothing changed on the same ones.
Each recompose must reuse every build (compose/metadata/builds.json) and take over the root tree, the
OSTree commit, the OCI image, the lint results and the disk image (logs/phases.json notes); the bench
fails loudly otherwise. Goal: under ${GOAL_LOCAL_SECONDS} s locally (under ${GOAL_HUB_SECONDS} s through a hub).

Through a hub (--start-hub): after the local recomposes, 'deb-orchestrator up' is started on 127.0.0.1
(a free port) on the same orchestrator data (SQLite, its deb-mock builder), and --runs more no-op
recomposes go through it (--hub URL --token-file DATA/admin.token): the hub records each compose and
its phases (checked through its API) and the build phase asks it for the builds. Both are printed side by
side, with the ratio hub / local. --hub URL instead sends every compose, the first too, to a running hub.

References in the same run: the first compose (everything made), and mmdebstrap of exactly the compose's
package set from its own APT snapshot into a directory (as bench/pipeline.mjs does).

Options:
  --runs N            no-op recomposes after the first compose (default 3)
  --boot              keep the test phase (boot under QEMU; it boots every time, nothing to reuse)
  --start-hub         also through a 'deb-orchestrator up' started by the bench (see above)
  --hub URL           every compose through this running hub instead of an embedded one
  --token-file FILE   the token for --hub (default: the client's configuration)
  --images-on WHERE   local (default) or hub: through a hub, the image phases run on its builders
                      (with --start-hub, the builder of 'deb-orchestrator up'); a first compose through
                      the hub makes the images there, then each no-op recompose must take them over
  --definition FILE   compose definition (default examples/debian-bootc.yaml)
  --workdir DIR       orchestrator data, composes, cache, logs (default /var/tmp/recompose-bench; emptied first)
  --skip-mmdebstrap   no mmdebstrap reference
  --timeout MINUTES   per compose (default 30)
  --json              the figures as JSON on stdout
  --render FILE       print the tables of a run saved with --json
  -h, --help          this text

Exit codes: 0 every compose finished and every recompose reused what it must (a goal not met still
gives 0); 1 otherwise; 64 bad options; 77 not root.
`;

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: "3" },
      boot: { type: "boolean", default: false },
      hub: { type: "string" },
      "start-hub": { type: "boolean", default: false },
      "token-file": { type: "string" },
      "images-on": { type: "string", default: "local" },
      definition: { type: "string", default: join(REPO, "examples", "debian-bootc.yaml") },
      workdir: { type: "string", default: "/var/tmp/recompose-bench" },
      "skip-mmdebstrap": { type: "boolean", default: false },
      timeout: { type: "string", default: "30" },
      ...REPORT_OPTIONS,
    },
    strict: true,
  });
  if (values.hub && values["start-hub"]) throw new Error("--hub and --start-hub exclude each other");
  if (!["local", "hub"].includes(values["images-on"])) throw new Error("--images-on: expected local or hub");
  if (values["images-on"] === "hub" && !values.hub && !values["start-hub"]) throw new Error("--images-on hub needs --hub or --start-hub");
  return {
    ...values,
    runs: wholeNumberOption(values, "runs"),
    timeoutMs: minutesOptionMs(values, "timeout"),
    workdir: resolve(values.workdir),
    definition: resolve(values.definition),
  };
}

const say = (msg) => process.stderr.write(`[recompose] ${msg}\n`);
const load1 = () => Math.round(os.loadavg()[0] * 100) / 100;

/** One compose: wall clock, load, and what logs/phases.json and builds.json say. */
async function compose(kind, opts, dirs, env, hub = opts.hub ? { url: opts.hub, tokenFile: opts["token-file"] } : undefined) {
  const log = join(dirs.logs, `${kind}.log`);
  const before = new Set(readdirSync(dirs.output));
  const argv = ["node", COMPOSE_CLI, "compose", opts.definition, "--output", dirs.output, "--cache-dir", dirs.cache];
  if (hub) argv.push("--hub", hub.url, ...(hub.tokenFile ? ["--token-file", hub.tokenFile] : []));
  else argv.push("--orchestrator-data", dirs.orchestrator);
  if (hub && opts["images-on"] === "hub") argv.push("--images-on", "hub");
  if (!opts.boot) argv.push("--skip-phase", "test");
  const loadBefore = load1();
  say(`${kind}: deb-bootc-compose ${argv.slice(2).join(" ")} (log ${log}) ...`);
  const r = await runCommand(argv, { cwd: REPO, env, logFile: log, timeoutMs: opts.timeoutMs });
  const made = readdirSync(dirs.output).filter(
    (n) => !before.has(n) && !n.startsWith(".") && !n.startsWith("latest-") && statSync(join(dirs.output, n)).isDirectory(),
  );
  const composeDir = made.length === 1 ? join(dirs.output, made[0]) : null;
  const phases = composeDir ? (readJson(join(composeDir, "logs", "phases.json"))?.phases ?? []) : [];
  const builds = composeDir ? (readJson(join(composeDir, "compose", "metadata", "builds.json"))?.payload?.builds ?? []) : [];
  const out = {
    kind,
    exitCode: r.timedOut ? "timeout" : r.code,
    seconds: r.seconds,
    load: { before: loadBefore, after: load1() },
    composeDir,
    status: composeDir ? (readText(join(composeDir, "STATUS"))?.trim() ?? null) : null,
    phases: phases.map((p) => ({ name: p.name, outcome: p.outcome, seconds: (p.durationMs ?? 0) / 1000, notes: p.notes ?? [] })),
    builds: builds.map((b) => ({ source: b.source, version: b.version, reused: b.reused })),
    log,
    hub: hub ? await recordedOnHub(hub, composeDir) : null,
  };
  say(
    `  ${fmt(out.seconds)} s, exit ${out.exitCode}, ${out.status ?? "no compose directory"}, load ${out.load.before} -> ${out.load.after}`,
  );
  return out;
}

/** A free TCP port on loopback (for the hub the bench starts). */
function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * 'deb-orchestrator up' on loopback on the orchestrator data the local composes used (SQLite, a deb-mock
 * builder of capacity 2, as the embedded one): resolves once its API answers; stop() ends it with SIGTERM.
 */
async function startHub(dirs, env, imagesOnHub = false) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = join(dirs.logs, "hub.log");
  const out = createWriteStream(log);
  const argv = [ORCHESTRATOR_CLI, "up", "--data", dirs.orchestrator, "--listen", `127.0.0.1:${port}`, "--capacity", "2"];
  // its builder runs the image tasks with this checkout's compose command, on the compose cache the local composes filled
  if (imagesOnHub)
    argv.push("--capability", "build", "--capability", "image", "--compose-command", COMPOSE_CLI, "--image-cache-dir", dirs.cache);
  say(`hub: deb-orchestrator ${argv.slice(1).join(" ")} (log ${log}) ...`);
  const child = spawn("node", argv, { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const exited = new Promise((r) => child.once("exit", (code, signal) => r(code ?? signal)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  process.once("exit", () => child.kill("SIGTERM"));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`deb-orchestrator up exited (${child.exitCode}); see ${log}`);
    const ok = await fetch(`${url}/api/v1/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { url, tokenFile: join(dirs.orchestrator, "admin.token"), stop };
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  throw new Error(`deb-orchestrator up did not answer within 60 s; see ${log}`);
}

/** What the hub recorded of a compose (its status and phases), read through its API with the compose's token. */
async function recordedOnHub(hub, composeDir) {
  if (!composeDir) return null;
  const id = composeDir.split("/").at(-1);
  const token = hub.tokenFile ? readText(hub.tokenFile)?.trim() : undefined;
  try {
    const r = await fetch(`${hub.url}/api/v1/composes/${encodeURIComponent(id)}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    if (!r.ok) return { id, error: `HTTP ${r.status}` };
    const c = await r.json();
    return { id, status: c.status, phases: (c.phases ?? []).map((p) => ({ name: p.name, status: p.status })) };
  } catch (error) {
    return { id, error: error.message };
  }
}

/** What a no-op recompose failed to reuse (empty when it reused everything it must). */
function reuseProblems(run) {
  const problems = [];
  if (run.exitCode !== 0 || run.status !== "FINISHED") problems.push(`exit ${run.exitCode}, status ${run.status}; log ${run.log}`);
  const rebuilt = run.builds.filter((b) => !b.reused);
  if (run.builds.length === 0 || rebuilt.length > 0)
    problems.push(`builds not reused: ${rebuilt.map((b) => b.source).join(", ") || "none listed"}`);
  for (const [name, pattern] of Object.entries(REUSED)) {
    const phase = run.phases.find((p) => p.name === name);
    if (phase?.outcome === "done" && !phase.notes.some((n) => pattern.test(n)))
      problems.push(`${name} made its output again (notes: ${phase.notes.join("; ") || "none"})`);
  }
  if (run.hub) {
    const { hub } = run;
    if (hub.error || hub.status !== "FINISHED" || !hub.phases.some((p) => p.name === "build" && p.status === "done"))
      problems.push(`the hub did not record it as a finished compose with its phases (${hub.error ?? `status ${hub.status}`})`);
  }
  return problems;
}

async function main() {
  const start = startBench({
    name: "recompose",
    help: HELP,
    parseOptions,
    renderReport,
    rootReason: "the compose runs mmdebstrap and deb-mock",
  });
  if (start.opts === undefined) return start.exit;
  const opts = start.opts;
  if (!existsSync(COMPOSE_CLI)) {
    say(`${COMPOSE_CLI} not found; build the tools first: npm run build`);
    return 1;
  }
  const suite = parseYaml(readText(opts.definition) ?? "")?.suite ?? "trixie";
  const arch = (await runCommand(["dpkg", "--print-architecture"])).stdout.trim() || "amd64";
  rmSync(opts.workdir, { recursive: true, force: true });
  const dirs = Object.fromEntries(["orchestrator", "output", "cache", "logs"].map((d) => [d, join(opts.workdir, d)]));
  for (const d of [dirs.output, dirs.cache, dirs.logs]) mkdirSync(d, { recursive: true });
  const env = { ...process.env };
  // the embedded hub unless --hub: no configured hub or cache may take over
  delete env.DEB_ORCHESTRATOR_HUB;
  delete env.DEB_BOOTC_COMPOSE_CACHE;

  const first = await compose("first", opts, dirs, env);
  const problems =
    first.exitCode === 0 && first.status === "FINISHED"
      ? []
      : [`first compose: exit ${first.exitCode}, status ${first.status}; log ${first.log}`];
  const recomposes = [];
  for (let i = 1; i <= opts.runs && problems.length === 0; i++) {
    const run = await compose(`noop-${i}`, opts, dirs, env);
    recomposes.push(run);
    problems.push(...reuseProblems(run).map((p) => `no-op recompose ${i}: ${p}`));
  }
  const hubRecomposes = [];
  if (opts["start-hub"] && problems.length === 0) {
    const hub = await startHub(dirs, env, opts["images-on"] === "hub");
    try {
      if (opts["images-on"] === "hub") {
        // the images made once on the hub's builder: the no-op recomposes below take this compose's results over
        const made = await compose("hub-first", opts, dirs, env, hub);
        if (made.exitCode !== 0 || made.status !== "FINISHED")
          problems.push(`first compose with --images-on hub: exit ${made.exitCode}, status ${made.status}; log ${made.log}`);
      }
      for (let i = 1; i <= opts.runs && problems.length === 0; i++) {
        const run = await compose(`hub-noop-${i}`, opts, dirs, env, hub);
        hubRecomposes.push(run);
        problems.push(...reuseProblems(run).map((p) => `no-op recompose ${i} through the hub: ${p}`));
      }
    } finally {
      await hub.stop();
    }
  }
  const mmdebstrap =
    opts["skip-mmdebstrap"] || !first.composeDir
      ? null
      : await mmdebstrapReference(first, opts.workdir, suite, arch, opts, dirs.logs, 1, say);
  const report = {
    bench: "recompose",
    date: new Date().toISOString(),
    host: { cpus: os.availableParallelism(), kernel: os.release() },
    options: {
      runs: opts.runs,
      boot: opts.boot,
      hub: opts.hub ?? null,
      startHub: opts["start-hub"],
      imagesOn: opts["images-on"],
      definition: opts.definition,
    },
    goalSeconds: opts.hub ? GOAL_HUB_SECONDS : GOAL_LOCAL_SECONDS,
    hubGoalSeconds: GOAL_HUB_SECONDS,
    first,
    recomposes,
    hubRecomposes,
    mmdebstrap: mmdebstrap && { ok: mmdebstrap.ok, seconds: mmdebstrap.seconds, packages: mmdebstrap.packages },
    problems,
  };
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
  for (const p of problems) say(`FAILED: ${p}`);
  return problems.length > 0 ? 1 : 0;
}

function renderReport(r) {
  const finished = (runs) => (runs ?? []).filter((c) => c.exitCode === 0);
  const local = finished(r.recomposes);
  const viaHub = finished(r.hubRecomposes);
  const totalOf = (runs) => summarize(runs.map((c) => c.seconds));
  const phaseOf = (runs, name) => summarize(runs.map((c) => c.phases.find((p) => p.name === name)?.seconds).filter((s) => s !== undefined));
  const range = (m) => `${fmt(m.min)}-${fmt(m.max)}`;
  const names = r.first.phases.map((p) => p.name);
  const withHub = viaHub.length > 0;
  const row = (label, first, m, h) => [label, fmt(first), fmt(m.median), range(m), ...(withHub ? [fmt(h.median), range(h)] : [])];
  const total = totalOf(local);
  const hubTotal = totalOf(viaHub);
  const rows = [
    row("total (compose command, wall clock)", r.first.seconds, total, hubTotal),
    ...names.map((n) => row(`  ${n}`, r.first.phases.find((p) => p.name === n)?.seconds, phaseOf(local, n), phaseOf(viaHub, n))),
  ];
  if (r.mmdebstrap) rows.push([`mmdebstrap, the same ${r.mmdebstrap.packages} packages (reference)`, fmt(r.mmdebstrap.seconds), "", ""]);
  const where = r.options.hub ? `through the hub ${r.options.hub}` : "locally (embedded hub)";
  const verdict = (m, goal, place) =>
    `Verdict, no-op recompose under ${goal} s ${place}: ${
      m.median === null ? "no recompose finished" : `${m.median < goal ? "met" : "NOT met"}: median ${fmt(m.median)} s against ${goal} s`
    }`;
  const ratio = (a, b) => (a && b ? fmt(a / b, 2) : "-");
  const loads = [r.first, ...r.recomposes, ...(r.hubRecomposes ?? [])].map((c) => `${c.load.before}->${c.load.after}`).join(", ");
  const header = ["seconds", "first compose", "no-op median", "no-op min-max", ...(withHub ? ["via hub median", "via hub min-max"] : [])];
  return [
    `No-op recompose ${where}${withHub ? " and through a deb-orchestrator up hub" : ""}, ${r.options.boot ? "with" : "without"} the boot test; ${local.length}${withHub ? ` + ${viaHub.length}` : ""} run(s); ${r.host.cpus} CPUs; load ${loads}`,
    renderTable(header, rows),
    `no-op recompose / mmdebstrap: ${ratio(total.median, r.mmdebstrap?.seconds)}${withHub ? `; through the hub / mmdebstrap: ${ratio(hubTotal.median, r.mmdebstrap?.seconds)}; through the hub / locally: ${ratio(hubTotal.median, total.median)}` : ""}`,
    verdict(total, r.goalSeconds, where),
    ...(withHub ? [verdict(hubTotal, r.hubGoalSeconds, "through a hub")] : []),
    ...(r.problems.length ? [`problems:\n  ${r.problems.join("\n  ")}`] : []),
    "",
  ].join("\n");
}

process.exitCode = await main();
