import type { ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { NoopBuildRunner } from "./builder/build-runner.js";
import { Builder } from "./builder/builder.js";
import { freePort, spawnCli, stopProcess } from "./testing/processes.js";
import { RawHubClient } from "./testing/raw-hub-client.js";
import { createTarget, submitBuild, until, waitForTask, writeSourcePackage } from "./testing/test-builds.js";
import { databaseKinds, startTestHub, type TestHub, useDatabases } from "./testing/test-hub.js";

/*
 * Fault tests with the noop runner (it packs a real placeholder .deb after a delay): real processes are
 * killed with SIGKILL. The same tests with deb-mock building a real source belong to the system tier.
 */
const databases = useDatabases();

interface TaskDetail {
  state: string;
  children: { id: number; method: string; state: string; host: string | null; attempts: number }[];
}

async function hostToken(admin: RawHubClient, dir: string, name: string): Promise<string> {
  await admin.post("/api/v1/users", { name, perms: ["host"] });
  const { token } = await admin.post<{ token: string }>(`/api/v1/users/${name}/tokens`, {});
  const file = join(dir, `${name}.token`);
  await writeFile(file, token, { mode: 0o600 });
  return file;
}

function builderArgs(hub: string, tokenFile: string, name: string, dir: string, delayMs: number): string[] {
  return [
    "--hub",
    hub,
    "--token-file",
    tokenFile,
    "builder",
    "--name",
    name,
    "--runner",
    "noop",
    "--noop-delay-ms",
    String(delayMs),
    "--work-dir",
    join(dir, `work-${name}`),
    "--grace",
    "5",
  ];
}

describe.each(databaseKinds)("faults on %s", (kind) => {
  const children: ChildProcess[] = [];
  let test: TestHub | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) await stopProcess(child, "SIGKILL");
    for (const cleanup of cleanups.splice(0)) await cleanup();
    await test?.close();
    test = undefined;
  });

  it("a builder SIGKILLed mid-build: the task is freed after its lease and completes on a second builder", async () => {
    test = await startTestHub(databases, kind, { leaseMs: 3000 });
    await createTarget(test.admin);
    const tokenA = await hostToken(test.admin, test.dir, "builder-a");
    const tokenB = await hostToken(test.admin, test.dir, "builder-b");
    const a = spawnCli(builderArgs(test.hub.url, tokenA, "builder-a", test.dir, 60_000), join(test.dir, "a.log"));
    children.push(a);
    await until(async () => (await test!.admin.get<unknown[]>("/api/v1/hosts")).length === 1, 30_000, "builder-a to check in");
    const taskId = await submitBuild(test.admin, "t", await writeSourcePackage(test.dir, "victim", "1.0-1"));
    const running = await until(
      async () => {
        const task = await test!.admin.get<TaskDetail>(`/api/v1/tasks/${taskId}`);
        return task.children.find((c) => c.method === "buildArch" && c.state === "open" && c.host === "builder-a");
      },
      30_000,
      "the build to run on builder-a",
    );
    await stopProcess(a, "SIGKILL");
    children.push(spawnCli(builderArgs(test.hub.url, tokenB, "builder-b", test.dir, 200), join(test.dir, "b.log")));
    const done = await waitForTask(test.admin, taskId, 60_000);
    expect(done.state).toBe("closed");
    const arch = await test.admin.get<{ host: string; attempts: number; history: { kind: string; reason?: string }[] }>(
      `/api/v1/tasks/${running.id}`,
    );
    expect(arch.host).toBe("builder-b");
    expect(arch.attempts).toBe(1);
    expect(arch.history.filter((h) => h.kind === "task.freed").map((h) => h.reason)).toEqual(["lease-lapsed"]);
    const builds = await test.admin.get<{ name: string }[]>("/api/v1/builds?name=victim");
    expect(builds).toHaveLength(1);
    const build = await test.admin.get<{ state: string; binaries: unknown[] }>(`/api/v1/builds/${encodeURIComponent("victim/1.0-1")}`);
    expect(build.state).toBe("complete");
    expect(build.binaries).toHaveLength(1);
    const files = await test.hub.ctx.db.selectFrom("task_files").select("name").where("task_id", "=", running.id).execute();
    expect(files.map((f) => f.name)).toEqual(["victim_1.0-1_amd64.deb"]);
  }, 120_000);

  it("the hub SIGKILLed and restarted mid-build: the build completes, nothing lost", async () => {
    const dir = await mkdtemp(join(tmpdir(), `deb-orchestrator-hubkill-${kind}-`));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const dbUrl = await databases.url(kind, dir);
    const data = join(dir, "data");
    await mkdir(data, { recursive: true });
    const port = await freePort();
    const hubArgs = ["hub", "--db", dbUrl, "--data", data, "--listen", `127.0.0.1:${port}`, "--lease", "5"];
    const url = `http://127.0.0.1:${port}`;
    let hub = spawnCli(hubArgs, join(dir, "hub.log"));
    children.push(hub);
    const anonymous = new RawHubClient({ url });
    await until(async () => anonymous.get("/api/v1/health").catch(() => undefined), 30_000, "the hub to start");
    const admin = new RawHubClient({ url, token: (await readFile(join(data, "admin.token"), "utf8")).trim() });
    await createTarget(admin);
    const token = await hostToken(admin, dir, "builder-a");
    children.push(spawnCli(builderArgs(url, token, "builder-a", dir, 3000), join(dir, "builder.log")));
    const taskId = await submitBuild(admin, "t", await writeSourcePackage(dir, "survivor", "2.0-1"));
    await until(
      async () => (await admin.get<TaskDetail>(`/api/v1/tasks/${taskId}`)).children.find((c) => c.state === "open"),
      30_000,
      "the build to start",
    );
    await stopProcess(hub, "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    hub = spawnCli(hubArgs, join(dir, "hub.log"));
    children.push(hub);
    await until(async () => anonymous.get("/api/v1/health").catch(() => undefined), 30_000, "the hub to restart");
    const done = await waitForTask(admin, taskId, 60_000);
    expect(done.state).toBe("closed");
    const build = await admin.get<{ state: string; binaries: { filename: string }[]; tags: string[] }>(
      `/api/v1/builds/${encodeURIComponent("survivor/2.0-1")}`,
    );
    expect(build).toMatchObject({ state: "complete", tags: ["dest"] });
    expect(build.binaries.map((b) => b.filename)).toEqual(["survivor_2.0-1_amd64.deb"]);
    const packages = await (await anonymous.raw("GET", "/repos/dest/latest/dists/dest/main/binary-amd64/Packages")).text();
    expect(packages).toMatch(/^Package: survivor$/m);
  }, 120_000);

  it("two builders and several builds: both are used and neither exceeds its capacity", async () => {
    test = await startTestHub(databases, kind);
    await createTarget(test.admin);
    const builders: Builder[] = [];
    cleanups.push(async () => {
      for (const b of builders) await b.stop(100);
    });
    for (const [name, capacity] of [
      ["small", 1],
      ["large", 2],
    ] as const) {
      const client = await test.user(name, ["host"]);
      const builder = new Builder({
        client,
        name,
        arches: ["amd64"],
        capacity,
        runner: new NoopBuildRunner({ delayMs: 400 }),
        workDir: join(test.dir, `work-${name}`),
        claimWaitMs: 2000,
      });
      await builder.start();
      builders.push(builder);
    }
    const tasks = [];
    for (let i = 0; i < 6; i++) tasks.push(await submitBuild(test.admin, "t", await writeSourcePackage(test.dir, `pkg${i}`, "1.0-1")));
    for (const id of tasks) expect((await waitForTask(test.admin, id, 60_000)).state).toBe("closed");
    const runs = await test.hub.ctx.db
      .selectFrom("tasks")
      .innerJoin("hosts", "hosts.id", "tasks.host_id")
      .select(["hosts.name", "hosts.capacity", "tasks.started_at", "tasks.completed_at"])
      .where("tasks.method", "=", "buildArch")
      .execute();
    expect(new Set(runs.map((r) => r.name))).toEqual(new Set(["small", "large"]));
    for (const host of ["small", "large"]) {
      const mine = runs.filter((r) => r.name === host);
      const capacity = mine[0]!.capacity;
      // the most tasks this host ran at one moment, from the recorded start and end times
      const edges = mine.flatMap((r) => [
        [r.started_at!, 1],
        [r.completed_at!, -1],
      ]) as [number, number][];
      edges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
      let now = 0;
      let most = 0;
      for (const [, delta] of edges) {
        now += delta;
        most = Math.max(most, now);
      }
      expect(most).toBeLessThanOrEqual(capacity);
    }
  }, 120_000);
});
