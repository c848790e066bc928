#!/usr/bin/env node
import { execFileSync } from "node:child_process";
// deb-orchestrator's scheduling with a no-op build step: how fast the hub hands out work and how many
// tasks per second flow through it, with 1, 4 and 16 builders, on SQLite and on PostgreSQL.
//
//   npx tsc -b packages/deb-orchestrator && node bench/orchestrator-dispatch.mjs [--builders 1,4,16] [--tasks 1000] [--latency-samples 100] [--db sqlite,postgres] [--json]
//
// For each database and builder count: a fresh hub (its own SQLite file, or its own database in a
// throwaway PostgreSQL cluster started for the run: initdb + pg_ctl on a free loopback port, as the
// `postgres` user when run as root; or DEB_ORCHESTRATOR_BENCH_PG=postgres://... to use a running
// server), and N builders (capacity 1 each, long-polling the hub over HTTP in this process) that run
// `noop` tasks (no build). While work is queued a builder needs one request per task: the completion of
// a task claims and starts its next one in the same transaction (claimNext); an idle builder long-polls.
//   - dispatch latency: one task at a time with every builder idle and waiting; from just before the
//     client sends the submit request to the moment a builder begins running the task (its task-started
//     event), both on this process's monotonic clock: the submit's round trip is included.
//   - throughput: --tasks tasks submitted by 8 concurrent submitters; tasks per second from the first
//     submit to the last completion.
// Koji, the reference, is not installed here; its builders poll every several seconds (sleeptime,
// default 15 s), which bounds its dispatch latency from below. Goals (issue 4): dispatch latency
// under 100 ms, at least 200 no-op tasks per second. Also printed: CPU milliseconds per task of this
// process (hub, builders and submitters together) and of the PostgreSQL server (when the run started it),
// which a busy shared machine disturbs far less than the wall clock. Figures go to stdout, progress to stderr.
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { fmt, renderTable, summarize } from "./lib/stats.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { HubClient } = await import(pathToFileURL(join(REPO, "packages/deb-orchestrator/dist/index.js")).href);
const { startHub, Builder, NoopBuildRunner, ListingPublisher } = await import(
  pathToFileURL(join(REPO, "packages/deb-orchestrator/dist/local.js")).href
);

const { values: opts } = parseArgs({
  options: {
    builders: { type: "string", default: "1,4,16" },
    tasks: { type: "string", default: "1000" },
    "latency-samples": { type: "string", default: "100" },
    db: { type: "string", default: "sqlite,postgres" },
    json: { type: "boolean", default: false },
  },
});
const builderCounts = opts.builders.split(",").map(Number);
const taskCount = Number(opts.tasks);
const latencySamples = Number(opts["latency-samples"]);
const log = (text) => process.stderr.write(`${text}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

async function runOne(kind, builders, pg) {
  const dir = mkdtempSync(join(tmpdir(), `orchestrator-bench-${kind}-`));
  const hub = await startHub({ db: await databaseUrl(kind, dir, pg), dataDir: join(dir, "data"), publisher: new ListingPublisher() });
  const admin = new HubClient({ url: hub.url, token: readFileSync(hub.adminTokenFile, "utf8").trim() });
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
    for (let i = 0; i < latencySamples; i++) {
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
        while (next < taskCount) {
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
      node: ((cpuAfter.node - cpuBefore.node) * 1000) / taskCount,
      db: cpuAfter.db === null ? null : ((cpuAfter.db - cpuBefore.db) * 1000) / taskCount,
    };
    const perHost = await hub.ctx.db
      .selectFrom("tasks")
      .select((eb) => ["host_id", eb.fn.countAll().as("n")])
      .where("id", ">=", firstId)
      .groupBy("host_id")
      .execute();
    return {
      db: kind,
      builders,
      latency: summarize(latencies),
      latencyP95: [...latencies].sort((a, b) => a - b)[Math.floor(latencies.length * 0.95)],
      tasks: taskCount,
      seconds,
      submitSeconds: (submitted - started) / 1000,
      tasksPerSecond: taskCount / seconds,
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

const results = [];
let pg;
try {
  for (const kind of opts.db.split(",")) {
    if (kind === "postgres") {
      log("starting a throwaway PostgreSQL cluster");
      pg = await startPostgres();
    }
    for (const builders of builderCounts) {
      log(`${kind}: ${builders} builder(s)...`);
      results.push(await runOne(kind, builders, pg));
    }
  }
} finally {
  pg?.stop();
}

if (opts.json) process.stdout.write(`${JSON.stringify({ cpus: cpus().length, loadavg: loadavg(), results }, null, 2)}\n`);
else {
  process.stdout.write(
    `machine: ${cpus().length} CPUs, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}\n\n`,
  );
  process.stdout.write(
    `${renderTable(
      [
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
    )}\n\n`,
  );
  const worstLatency = Math.max(...results.map((r) => r.latency.median));
  const worstRate = Math.min(...results.map((r) => r.tasksPerSecond));
  process.stdout.write(
    `goal: dispatch latency < 100 ms (median, worst case here ${fmt(worstLatency)} ms): ${worstLatency < 100 ? "met" : "NOT met"}\n`,
  );
  process.stdout.write(`goal: >= 200 no-op tasks/s (worst case here ${fmt(worstRate, 0)}): ${worstRate >= 200 ? "met" : "NOT met"}\n`);
}
