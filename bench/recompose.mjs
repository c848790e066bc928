#!/usr/bin/env node
// A no-op recompose: the README's main job (examples/debian-bootc.yaml) composed once, then again with
// nothing changed on the same orchestrator data, compose output and cache, timed against the goal
// (under 10 s locally, issue #19) with the first compose and a plain mmdebstrap of the same package set
// as references in the same run. See bench/README.md.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
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
const GOAL_LOCAL_SECONDS = 10;
const GOAL_HUB_SECONDS = 15;
/** The phases whose work a no-op recompose must take over from the previous compose (their notes say so). */
const REUSED = { rootfs: /reused from the cache/, ostree: /reused/, oci: /reused/, lint: /reused/, "image-build": /reused/ };

const HELP = `Usage: node bench/recompose.mjs [options]   (as root; build the tools first: npm run build)

Times a no-op recompose of the README's main job ('deb-bootc-compose compose examples/debian-bootc.yaml',
the test phase skipped unless --boot): a first compose on a fresh orchestrator data directory, compose
output and compose cache under --workdir, then --runs recomposes with nothing changed on the same ones.
Each recompose must reuse every build (compose/metadata/builds.json) and take over the root tree, the
OSTree commit, the OCI image, the lint results and the disk image (logs/phases.json notes); the bench
fails loudly otherwise. Goal: under ${GOAL_LOCAL_SECONDS} s locally (under ${GOAL_HUB_SECONDS} s through a hub, --hub).

References in the same run: the first compose (everything made), and mmdebstrap of exactly the compose's
package set from its own APT snapshot into a directory (as bench/pipeline.mjs does).

Options:
  --runs N            no-op recomposes after the first compose (default 3)
  --boot              keep the test phase (boot under QEMU; it boots every time, nothing to reuse)
  --hub URL           submit to this hub (deb-orchestrator up) instead of an embedded one: --hub URL
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
      definition: { type: "string", default: join(REPO, "examples", "debian-bootc.yaml") },
      workdir: { type: "string", default: "/var/tmp/recompose-bench" },
      "skip-mmdebstrap": { type: "boolean", default: false },
      timeout: { type: "string", default: "30" },
      ...REPORT_OPTIONS,
    },
    strict: true,
  });
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
async function compose(kind, opts, dirs, env) {
  const log = join(dirs.logs, `${kind}.log`);
  const before = new Set(readdirSync(dirs.output));
  const argv = ["node", COMPOSE_CLI, "compose", opts.definition, "--output", dirs.output, "--cache-dir", dirs.cache];
  argv.push(...(opts.hub ? ["--hub", opts.hub] : ["--orchestrator-data", dirs.orchestrator]));
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
  };
  say(
    `  ${fmt(out.seconds)} s, exit ${out.exitCode}, ${out.status ?? "no compose directory"}, load ${out.load.before} -> ${out.load.after}`,
  );
  return out;
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
  const mmdebstrap =
    opts["skip-mmdebstrap"] || !first.composeDir
      ? null
      : await mmdebstrapReference(first, opts.workdir, suite, arch, opts, dirs.logs, 1, say);
  const report = {
    bench: "recompose",
    date: new Date().toISOString(),
    host: { cpus: os.availableParallelism(), kernel: os.release() },
    options: { runs: opts.runs, boot: opts.boot, hub: opts.hub ?? null, definition: opts.definition },
    goalSeconds: opts.hub ? GOAL_HUB_SECONDS : GOAL_LOCAL_SECONDS,
    first,
    recomposes,
    mmdebstrap: mmdebstrap && { ok: mmdebstrap.ok, seconds: mmdebstrap.seconds, packages: mmdebstrap.packages },
    problems,
  };
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
  for (const p of problems) say(`FAILED: ${p}`);
  return problems.length > 0 ? 1 : 0;
}

function renderReport(r) {
  const done = r.recomposes.filter((c) => c.exitCode === 0);
  const total = summarize(done.map((c) => c.seconds));
  const names = r.first.phases.map((p) => p.name);
  const median = (name) => summarize(done.map((c) => c.phases.find((p) => p.name === name)?.seconds).filter((s) => s !== undefined));
  const rows = [
    ["total (compose command, wall clock)", fmt(r.first.seconds), fmt(total.median), `${fmt(total.min)}-${fmt(total.max)}`],
    ...names.map((n) => {
      const m = median(n);
      return [`  ${n}`, fmt(r.first.phases.find((p) => p.name === n)?.seconds), fmt(m.median), `${fmt(m.min)}-${fmt(m.max)}`];
    }),
  ];
  if (r.mmdebstrap) rows.push([`mmdebstrap, the same ${r.mmdebstrap.packages} packages (reference)`, fmt(r.mmdebstrap.seconds), "", ""]);
  const where = r.options.hub ? `through the hub ${r.options.hub}` : "locally (embedded hub)";
  const verdict =
    total.median === null
      ? "no recompose finished"
      : `${total.median < r.goalSeconds ? "met" : "NOT met"}: median ${fmt(total.median)} s against ${r.goalSeconds} s`;
  const loads = [r.first, ...r.recomposes].map((c) => `${c.load.before}->${c.load.after}`).join(", ");
  return [
    `No-op recompose ${where}, ${r.options.boot ? "with" : "without"} the boot test; ${done.length} run(s); ${r.host.cpus} CPUs; load ${loads}`,
    renderTable(["seconds", "first compose", "no-op median", "no-op min-max"], rows),
    `mmdebstrap / no-op recompose: ${r.mmdebstrap?.seconds && total.median ? fmt(r.mmdebstrap.seconds / total.median, 2) : "-"}`,
    `Verdict, no-op recompose under ${r.goalSeconds} s ${where}: ${verdict}`,
    ...(r.problems.length ? [`problems:\n  ${r.problems.join("\n  ")}`] : []),
    "",
  ].join("\n");
}

process.exitCode = await main();
