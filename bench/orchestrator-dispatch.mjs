#!/usr/bin/env node
// deb-orchestrator's scheduling with a no-op build step: how fast the hub hands out work and how many
// tasks per second flow through it (node bench/orchestrator-dispatch.mjs --help says what is measured).
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { REPORT_OPTIONS, startBench, wholeNumberOption } from "./lib/start.mjs";
import { fmt, renderTable, summarize } from "./lib/stats.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const HELP = `Usage: node bench/orchestrator-dispatch.mjs [options]   (build first: npx tsc -b packages/deb-orchestrator)

For each database and builder count: a fresh hub (its own SQLite file, or its own database in a
throwaway PostgreSQL cluster started for the run: initdb + pg_ctl on a free loopback port, as the
postgres user when run as root; or DEB_ORCHESTRATOR_BENCH_PG=postgres://... to use a running server),
and N builders (capacity 1 each, long-polling the hub over HTTP in this process) that run noop tasks
(no build). While work is queued a builder needs one request per task: the completion of a task claims
and starts its next one in the same transaction; an idle builder long-polls.
  dispatch latency  one task at a time with every builder idle and waiting; from just before the client
                    sends the submit request to the moment a builder begins running the task, both on
                    this process's monotonic clock: the submit's round trip is included.
  throughput        --tasks tasks submitted by 8 concurrent submitters; tasks per second from the first
                    submit to the last completion.
  CPU per task      CPU milliseconds of this process (hub, builders and submitters together) and of the
                    PostgreSQL server (when the run started it), per throughput task: a busy shared
                    machine disturbs it far less than the wall clock.
Goals (issue 4): dispatch latency under 100 ms, at least 200 no-op tasks per second. Koji, the
reference, is not installed here; its builders poll every several seconds (sleeptime, default 15 s).

With --compare DIR the same runs are made, alternating, with the deb-orchestrator built in another
checkout (for example an older commit in a git worktree, built with npm run build), and a summary sets
the two side by side. Figures go to stdout, progress to stderr.

Options:
  --builders LIST        builder counts (default 1,4,16)
  --db LIST              sqlite, postgres or both (default sqlite,postgres)
  --tasks N              throughput tasks per run (default 1000)
  --latency-samples N    dispatch latency samples per run (default 100)
  --rounds N             runs of each database and builder count (per checkout; default 1)
  --compare DIR          another checkout to run alternately with this one
  --json                 the report as JSON
  --render FILE          print a saved --json report as text
  -h, --help             this text
`;

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      builders: { type: "string", default: "1,4,16" },
      tasks: { type: "string", default: "1000" },
      "latency-samples": { type: "string", default: "100" },
      db: { type: "string", default: "sqlite,postgres" },
      rounds: { type: "string", default: "1" },
      compare: { type: "string" },
      ...REPORT_OPTIONS,
    },
  });
  const builders = values.builders.split(",").map((b) => wholeNumberOption({ builders: b }, "builders"));
  const dbs = values.db.split(",");
  for (const db of dbs) if (db !== "sqlite" && db !== "postgres") throw new Error(`--db: expected sqlite and/or postgres, got '${db}'`);
  if (values.compare !== undefined && !existsSync(join(values.compare, "packages/deb-orchestrator/dist/index.js"))) {
    throw new Error(`--compare: ${values.compare} has no built deb-orchestrator (packages/deb-orchestrator/dist/index.js)`);
  }
  return {
    ...values,
    builders,
    dbs,
    tasks: wholeNumberOption(values, "tasks"),
    latencySamples: wholeNumberOption(values, "latency-samples"),
    rounds: wholeNumberOption(values, "rounds"),
  };
}

const log = (text) => process.stderr.write(`${text}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A checkout's deb-orchestrator: its label (folder and commit) and the classes the benchmark drives. */
async function loadCheckout(dir) {
  const dist = join(dir, "packages/deb-orchestrator/dist");
  const index = await import(pathToFileURL(join(dist, "index.js")).href);
  // before the contract work (issue 14) index.js exported the hub too, and there was no local.js
  const local = existsSync(join(dist, "local.js")) ? await import(pathToFileURL(join(dist, "local.js")).href) : index;
  let commit = "?";
  try {
    commit = execFileSync("git", ["-C", dir, "rev-parse", "--short", "HEAD"], { stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch {}
  return { label: `${dir.split("/").pop()}@${commit}`, HubClient: index.HubClient, ...pick(local) };
}

function pick({ startHub, Builder, NoopBuildRunner, ListingPublisher }) {
  return { startHub, Builder, NoopBuildRunner, ListingPublisher };
}

/** The client calls the benchmark makes; a client from before the typed HubClient had only post(path, body). */
function adminCalls(client) {
  if (client.submitNoop) return client;
  return {
    createUser: (name, perms) => client.post("/api/v1/users", { name, perms }),
    createToken: (name) => client.post(`/api/v1/users/${name}/tokens`, {}),
    submitNoop: (body) => client.post("/api/v1/tasks", { method: "noop", ...body }),
  };
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
    server.on("error", reject);
  });
}

async function startPostgres() {
  if (process.env.DEB_ORCHESTRATOR_BENCH_PG) return { url: process.env.DEB_ORCHESTRATOR_BENCH_PG, stop() {} };
  const versions = readdirSync("/usr/lib/postgresql")
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => b - a);
  const bin = `/usr/lib/postgresql/${versions[0]}/bin`;
  const dir = mkdtempSync(join(tmpdir(), "orchestrator-bench-pg-"));
  const root = process.getuid() === 0;
  const uid = root ? Number(execFileSync("id", ["-u", "postgres"]).toString()) : undefined;
  const gid = root ? Number(execFileSync("id", ["-g", "postgres"]).toString()) : undefined;
  if (root) chownSync(dir, uid, gid);
  const as = (program, args) =>
    root
      ? execFileSync("setpriv", [`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", program, ...args], { cwd: dir, stdio: "pipe" })
      : execFileSync(program, args, { cwd: dir, stdio: "pipe" });
  as(join(bin, "initdb"), ["-D", join(dir, "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--locale=C"]);
  const port = await freePort();
  // durability as a production server would have it: fsync stays on
  as(join(bin, "pg_ctl"), [
    "-D",
    join(dir, "data"),
    "-o",
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`,
    "-l",
    join(dir, "log"),
    "-w",
    "start",
  ]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    postmasterPid: Number(readFileSync(join(dir, "data", "postmaster.pid"), "utf8").split("\n")[0]),
    stop() {
      try {
        as(join(bin, "pg_ctl"), ["-D", join(dir, "data"), "-m", "fast", "-w", "stop"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * CPU seconds used so far by this process and, when the benchmark runs its own cluster, by the
 * PostgreSQL server (the postmaster and its children, from /proc). On a shared, busy machine the wall
 * clock says more about the neighbours than about the hub; CPU time per task says what a task costs.
 */
function cpuSeconds(pg) {
  const usage = process.cpuUsage();
  const node = (usage.user + usage.system) / 1e6;
  if (!pg?.postmasterPid) return { node, db: null };
  let ticks = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid ... utime(14) stime(15): fields after the closing parenthesis
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const pid = Number(entry);
    const ppid = Number(fields[1]);
    if (pid === pg.postmasterPid || ppid === pg.postmasterPid) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return { node, db: ticks / 100 };
}

let dbCounter = 0;
async function databaseUrl(kind, dir, pg) {
  if (kind === "sqlite") return `sqlite:${join(dir, "hub.db")}`;
  const { default: pgLib } = await import("pg");
  const client = new pgLib.Client({ connectionString: pg.url });
  await client.connect();
  const name = `bench_${process.pid}_${dbCounter++}`;
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  return pg.url.replace(/\/[^/]*$/, `/${name}`);
}

async function runOne(checkout, kind, builders, pg, opts) {
  const { HubClient, startHub, Builder, NoopBuildRunner, ListingPublisher } = checkout;
  const dir = mkdtempSync(join(tmpdir(), `orchestrator-bench-${kind}-`));
  const hub = await startHub({ db: await databaseUrl(kind, dir, pg), dataDir: join(dir, "data"), publisher: new ListingPublisher() });
  const admin = adminCalls(new HubClient({ url: hub.url, token: readFileSync(hub.adminTokenFile, "utf8").trim() }));
  const running = [];
  const startedAt = new Map();
  try {
    for (let i = 0; i < builders; i++) {
      const name = `b${i}`;
      await admin.createUser(name, ["host"]);
      const { token } = await admin.createToken(name);
      const builder = new Builder({
        client: new HubClient({ url: hub.url, token }),
        name,
        arches: ["amd64"],
        capacity: 1,
        runner: new NoopBuildRunner(),
        workDir: join(dir, "work"),
        claimWaitMs: 20_000,
      });
      builder.on((event) => {
        if (event.type === "task-started") startedAt.set(event.task, performance.now());
      });
      await builder.start();
      running.push(builder);
    }
    while (hub.ctx.dispatcher.waiting < builders) await sleep(10);
    // warm-up
    for (let i = 0; i < 20; i++) await admin.submitNoop({ arch: "amd64" });
    await waitAllClosed(hub);
    // latency: one at a time, all builders idle and waiting
    const latencies = [];
    for (let i = 0; i < opts.latencySamples; i++) {
      while (hub.ctx.dispatcher.waiting < builders) await sleep(1);
      const submitted = performance.now();
      const { task } = await admin.submitNoop({ arch: "amd64" });
      while (!startedAt.has(task)) await sleep(0.5);
      latencies.push(startedAt.get(task) - submitted);
    }
    // throughput
    const firstId =
      Number(
        (
          await hub.ctx.db
            .selectFrom("tasks")
            .select((eb) => eb.fn.max("id").as("m"))
            .executeTakeFirst()
        ).m,
      ) + 1;
    const cpuBefore = cpuSeconds(kind === "postgres" ? pg : undefined);
    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < opts.tasks) {
          next++;
          await admin.submitNoop({ arch: "amd64" });
        }
      }),
    );
    const submitted = Date.now();
    await waitAllClosed(hub);
    const last = await hub.ctx.db
      .selectFrom("tasks")
      .select((eb) => [eb.fn.min("created_at").as("first"), eb.fn.max("completed_at").as("last")])
      .where("id", ">=", firstId)
      .executeTakeFirst();
    const seconds = (Number(last.last) - Number(last.first)) / 1000;
    const cpuAfter = cpuSeconds(kind === "postgres" ? pg : undefined);
    const cpuMsPerTask = {
      node: ((cpuAfter.node - cpuBefore.node) * 1000) / opts.tasks,
      db: cpuAfter.db === null ? null : ((cpuAfter.db - cpuBefore.db) * 1000) / opts.tasks,
    };
    const perHost = await hub.ctx.db
      .selectFrom("tasks")
      .select((eb) => ["host_id", eb.fn.countAll().as("n")])
      .where("id", ">=", firstId)
      .groupBy("host_id")
      .execute();
    return {
      checkout: checkout.label,
      db: kind,
      builders,
      latency: summarize(latencies),
      latencyP95: [...latencies].sort((a, b) => a - b)[Math.floor(latencies.length * 0.95)],
      tasks: opts.tasks,
      seconds,
      submitSeconds: (submitted - started) / 1000,
      tasksPerSecond: opts.tasks / seconds,
      cpuMsPerTask,
      buildersUsed: perHost.length,
    };
  } finally {
    for (const builder of running) await builder.stop(100);
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitAllClosed(hub) {
  for (;;) {
    const open = await hub.ctx.db
      .selectFrom("tasks")
      .select((eb) => eb.fn.countAll().as("n"))
      .where("state", "!=", "closed")
      .executeTakeFirst();
    if (Number(open.n) === 0) return;
    await sleep(20);
  }
}

function renderReport(report) {
  const { results } = report;
  const runs = renderTable(
    [
      "checkout",
      "db",
      "builders",
      "latency median ms",
      "p95 ms",
      "min",
      "max",
      "tasks",
      "seconds",
      "tasks/s",
      "builders used",
      "cpu ms/task node",
      "cpu ms/task postgres",
    ],
    results.map((r) => [
      r.checkout,
      r.db,
      r.builders,
      fmt(r.latency.median),
      fmt(r.latencyP95),
      fmt(r.latency.min),
      fmt(r.latency.max),
      r.tasks,
      fmt(r.seconds, 2),
      fmt(r.tasksPerSecond, 0),
      r.buildersUsed,
      fmt(r.cpuMsPerTask.node, 2),
      fmt(r.cpuMsPerTask.db, 2),
    ]),
  );
  const out = [
    `machine: ${report.cpus} CPUs, load ${report.loadavg.map((l) => l.toFixed(2)).join(" ")} (at the start: ${report.loadavgAtStart?.map((l) => l.toFixed(2)).join(" ") ?? "?"})`,
    "",
    runs,
    "",
  ];
  const checkouts = [...new Set(results.map((r) => r.checkout))];
  if (checkouts.length > 1 || results.length > new Set(results.map((r) => `${r.db} ${r.builders}`)).size) {
    // medians over the rounds, the other checkout beside this one: a tasks/s ratio above 1 and a CPU ratio below 1 favour this one
    const [mine, other] = checkouts;
    const groups = [...new Set(results.map((r) => `${r.db} ${r.builders}`))];
    const median = (checkout, group, value) =>
      summarize(
        results
          .filter((r) => r.checkout === checkout && `${r.db} ${r.builders}` === group)
          .map(value)
          .filter((v) => v !== null),
      ).median;
    const perTask = (r) => r.cpuMsPerTask.node + (r.cpuMsPerTask.db ?? 0);
    out.push(
      `medians of ${report.rounds} round(s)${other ? `; ratio = ${mine} / ${other}` : ""}`,
      "",
      renderTable(
        [
          "db",
          "builders",
          ...checkouts.flatMap((c) => [`tasks/s ${c}`, `cpu ms/task ${c}`]),
          ...(other ? ["tasks/s ratio", "cpu ratio"] : []),
        ],
        groups.map((g) => {
          const cells = checkouts.flatMap((c) => [
            fmt(
              median(c, g, (r) => r.tasksPerSecond),
              0,
            ),
            fmt(median(c, g, perTask), 2),
          ]);
          const ratios = other
            ? [
                fmt(median(mine, g, (r) => r.tasksPerSecond) / median(other, g, (r) => r.tasksPerSecond), 2),
                fmt(median(mine, g, perTask) / median(other, g, perTask), 2),
              ]
            : [];
          return [...g.split(" "), ...cells, ...ratios];
        }),
      ),
      "",
    );
  }
  const worstLatency = Math.max(...results.map((r) => r.latency.median));
  const worstRate = Math.min(...results.map((r) => r.tasksPerSecond));
  out.push(
    `goal: dispatch latency < 100 ms (median, worst case here ${fmt(worstLatency)} ms): ${worstLatency < 100 ? "met" : "NOT met"}`,
    `goal: >= 200 no-op tasks/s (worst case here ${fmt(worstRate, 0)}): ${worstRate >= 200 ? "met" : "NOT met"}`,
    "",
  );
  return out.join("\n");
}

async function main() {
  const start = startBench({ name: "orchestrator-dispatch", help: HELP, parseOptions, renderReport });
  if (start.opts === undefined) return start.exit;
  const opts = start.opts;
  if (!existsSync(join(REPO, "packages/deb-orchestrator/dist/index.js"))) {
    process.stderr.write("orchestrator-dispatch: build first: npx tsc -b packages/deb-orchestrator\n");
    return 1;
  }
  const checkouts = [await loadCheckout(REPO), ...(opts.compare ? [await loadCheckout(resolve(opts.compare))] : [])];
  const loadavgAtStart = loadavg();
  const results = [];
  let pg;
  try {
    for (const kind of opts.dbs) {
      if (kind === "postgres") {
        log("starting a throwaway PostgreSQL cluster");
        pg = await startPostgres();
      }
      for (const builders of opts.builders) {
        for (let round = 1; round <= opts.rounds; round++) {
          // alternate the checkouts so that a change in the machine's load falls on both
          for (const checkout of round % 2 ? checkouts : [...checkouts].reverse()) {
            log(`${kind}: ${builders} builder(s), round ${round}, ${checkout.label}...`);
            results.push(await runOne(checkout, kind, builders, pg, opts));
          }
        }
      }
      pg?.stop();
      pg = undefined;
    }
  } finally {
    pg?.stop();
  }
  const report = { cpus: cpus().length, loadavgAtStart, loadavg: loadavg(), rounds: opts.rounds, results };
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
  return 0;
}

process.exitCode = await main();
