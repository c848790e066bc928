import { readdir, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RawHubClient } from "../testing/raw-hub-client.js";
import { submitBuild, until, waitForTask, writeSourcePackage } from "../testing/test-builds.js";
import { databaseKinds, startNoopBuilder, startTestHub, type TestHub, useBuilders, useDatabases } from "../testing/test-hub.js";
import { startHub } from "./hub.js";
import { signWebhookBody } from "./webhooks.js";

const databases = useDatabases();

describe.each(databaseKinds)("hub on %s", (kind) => {
  let test: TestHub;
  const builders = useBuilders(() => test);

  async function setupTags(admin: RawHubClient) {
    await admin.post("/api/v1/tags", { name: "trixie-base", arches: ["amd64"] });
    await admin.post("/api/v1/tags", { name: "trixie-build", arches: ["amd64"], parents: ["trixie-base"] });
    await admin.post("/api/v1/tags", { name: "trixie-candidate", arches: ["amd64"], parents: ["trixie-base"] });
    await admin.post("/api/v1/targets", { name: "trixie", buildTag: "trixie-build", destTag: "trixie-candidate" });
  }

  async function startBuilder(name: string, options: { capacity?: number; failSources?: string[]; delayMs?: number } = {}) {
    const builder = await startNoopBuilder(test, name, options);
    builders.push(builder);
    return builder;
  }

  it("bootstraps an admin, users, tokens and permissions", async () => {
    test = await startTestHub(databases, kind);
    expect(await test.admin.get("/api/v1/whoami")).toEqual({ name: "admin", perms: ["admin"] });
    const alice = await test.user("alice", ["build"]);
    expect(await alice.get("/api/v1/whoami")).toEqual({ name: "alice", perms: ["build"] });
    await expect(alice.post("/api/v1/tags", { name: "x" })).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
    await test.admin.post("/api/v1/users/alice/permissions", { perm: "tag" });
    await alice.post("/api/v1/tags", { name: "x" });
    await expect(test.anonymous.post("/api/v1/tags", { name: "y" })).rejects.toMatchObject({ code: "AUTH_REQUIRED" });
    await expect(test.admin.post("/api/v1/users", { name: "alice" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    // tokens are stored hashed: the clear text appears nowhere in the database
    const rows = await test.hub.ctx.db.selectFrom("tokens").select("hash").execute();
    expect(rows.map((r) => r.hash)).not.toContain(test.adminToken);
    expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.hash))).toBe(true);
  });

  it("keeps tags with ordered inheritance, targets and external repos", async () => {
    test = await startTestHub(databases, kind);
    await setupTags(test.admin);
    await test.admin.post("/api/v1/external-repos", {
      name: "debian-trixie",
      url: "http://deb.invalid/debian",
      suite: "trixie",
      components: ["main"],
    });
    await test.admin.http("PATCH", "/api/v1/tags/trixie-base", { externalRepos: ["debian-trixie"] });
    const tag = await test.admin.get<{ inheritance: string[]; externalRepos: string[] }>("/api/v1/tags/trixie-build");
    expect(tag.inheritance).toEqual(["trixie-build", "trixie-base"]);
    expect(tag.externalRepos).toEqual(["debian-trixie"]);
    await expect(test.admin.http("PATCH", "/api/v1/tags/trixie-base", { parents: ["trixie-build"] })).rejects.toMatchObject({
      code: "TAG_LOOP",
    });
    expect(await test.admin.get("/api/v1/targets")).toEqual([{ name: "trixie", buildTag: "trixie-build", destTag: "trixie-candidate" }]);
  });

  it("runs a build through buildArch, tagBuild and newRepo and records everything", async () => {
    test = await startTestHub(databases, kind);
    await setupTags(test.admin);
    await startBuilder("builder-1");
    const pkg = await writeSourcePackage(test.dir, "hello", "2.10-3");
    const taskId = await submitBuild(test.admin, "trixie", pkg);
    const task = await waitForTask(test.admin, taskId);
    expect(task.state).toBe("closed");
    const detail = await test.admin.get<{ children: { method: string; state: string; label: string }[] }>(`/api/v1/tasks/${taskId}`);
    expect(detail.children.map((c) => [c.label, c.method, c.state])).toEqual([
      ["buildArch-amd64", "buildArch", "closed"],
      ["tagBuild", "tagBuild", "closed"],
      ["newRepo", "newRepo", "closed"],
    ]);
    const build = await test.admin.get<{
      state: string;
      binaries: { filename: string }[];
      tags: string[];
      buildroots: { installed: { name: string }[] }[];
    }>(`/api/v1/builds/${encodeURIComponent("hello/2.10-3")}`);
    expect(build.state).toBe("complete");
    expect(build.binaries.map((b) => b.filename)).toEqual(["hello_2.10-3_amd64.deb"]);
    expect(build.tags).toEqual(["trixie-candidate"]);
    expect(build.buildroots[0]?.installed.map((p) => p.name)).toEqual(["build-essential", "dpkg"]);
    const latest = await test.admin.get<{ version: string }>("/api/v1/tags/trixie-candidate/latest/hello");
    expect(latest.version).toBe("2.10-3");
    // the destination tag's repository was written and signed
    const packages = await (
      await test.anonymous.raw("GET", "/repos/trixie-candidate/latest/dists/trixie-candidate/main/binary-amd64/Packages")
    ).text();
    expect(packages).toMatch(/^Package: hello$/m);
    expect(packages).toMatch(/^Version: 2\.10-3$/m);
    const inRelease = await (await test.anonymous.raw("GET", "/repos/trixie-candidate/latest/dists/trixie-candidate/InRelease")).text();
    expect(inRelease).toContain("-----BEGIN PGP SIGNATURE-----");
    expect(await (await test.anonymous.raw("GET", "/repos/key.asc")).text()).toContain("BEGIN PGP PUBLIC KEY BLOCK");
    const log = await (
      await test.admin.raw(
        "GET",
        `/api/v1/tasks/${detail.children.length && (detail as unknown as { children: { id: number }[] }).children[0]!.id}/logs/build.log`,
      )
    ).text();
    expect(log).toContain("noop build of hello 2.10-3 on amd64");
    // builds are immutable: the same name and version cannot be built again
    const again = await submitBuild(test.admin, "trixie", pkg);
    const second = await waitForTask(test.admin, again);
    expect(second.state).toBe("failed");
    expect((second as unknown as { error: { code: string } }).error.code).toBe("BUILD_EXISTS");
    // every change is in the event log
    const events = await test.admin.get<{ kind: string }[]>("/api/v1/events?limit=10000");
    expect(events.map((e) => e.kind)).toEqual(expect.arrayContaining(["build.state", "tag.build-added", "repo.ready", "task.state"]));
  });

  it("explains a failed build with the tail of its log, and resubmits it", async () => {
    test = await startTestHub(databases, kind);
    await setupTags(test.admin);
    await startBuilder("builder-1", { failSources: ["broken"] });
    const pkg = await writeSourcePackage(test.dir, "broken", "1.0-1");
    const taskId = await submitBuild(test.admin, "trixie", pkg);
    expect((await waitForTask(test.admin, taskId)).state).toBe("failed");
    const build = await test.admin.get<{ state: string }>(`/api/v1/builds/${encodeURIComponent("broken/1.0-1")}`);
    expect(build.state).toBe("failed");
    const why = await test.admin.get<{ reason: string; details: { buildLogTail: string } }>(
      `/api/v1/builds/${encodeURIComponent("broken/1.0-1")}/why`,
    );
    expect(why.reason).toContain("BUILD_STEP_FAILED");
    expect(why.details.buildLogTail).toContain("pretend failure");
    // a failed build's name and version may be built again
    const { task: again } = await test.admin.post<{ task: number }>(`/api/v1/tasks/${taskId}/resubmit`);
    expect(again).toBeGreaterThan(taskId);
  });

  it("says why a task waits when no builder serves its architecture", async () => {
    test = await startTestHub(databases, kind);
    const { task } = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "riscv64" });
    const why = await test.admin.get<{ reason: string }>(`/api/v1/tasks/${task}/why`);
    expect(why.reason).toContain("no builder has ever checked in for architecture riscv64");
  });

  it("frees a task whose lease lapsed and rejects the late report of its old holder", async () => {
    test = await startTestHub(databases, kind, { leaseMs: 400 });
    const ghost = await test.user("ghost", ["host"]);
    await ghost.post("/api/v1/hosts/ghost/checkin", { session: "s1", arches: ["amd64"], capacity: 1 });
    const { task } = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64" });
    const claimed = await ghost.post<{ task: { id: number } }>("/api/v1/hosts/ghost/claim", { session: "s1", waitMs: 1000 });
    expect(claimed.task.id).toBe(task);
    // no heartbeat: the lease lapses and the task is free again, counted in its attempts
    const freed = await until(async () => {
      const t = await test.admin.get<{ state: string; attempts: number; history: { kind: string; reason?: string }[] }>(
        `/api/v1/tasks/${task}`,
      );
      return t.state === "free" ? t : undefined;
    });
    expect(freed.attempts).toBe(1);
    expect(freed.history.some((h) => h.kind === "task.freed" && h.reason === "lease-lapsed")).toBe(true);
    await expect(ghost.post(`/api/v1/hosts/ghost/tasks/${task}/complete`, { session: "s1" })).rejects.toMatchObject({
      code: "TASK_NOT_OWNED",
    });
  });

  it("frees a restarted builder's orphaned tasks at once", async () => {
    test = await startTestHub(databases, kind, { leaseMs: 60_000 });
    const host = await test.user("b1", ["host"]);
    await host.post("/api/v1/hosts/b1/checkin", { session: "first", arches: ["amd64"], capacity: 2 });
    const { task } = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64" });
    await host.post("/api/v1/hosts/b1/claim", { session: "first", waitMs: 1000 });
    const again = await host.post<{ freed: number[] }>("/api/v1/hosts/b1/checkin", { session: "second", arches: ["amd64"], capacity: 2 });
    expect(again.freed).toEqual([task]);
    const reclaimed = await host.post<{ task: { id: number; attempts: number } }>("/api/v1/hosts/b1/claim", {
      session: "second",
      waitMs: 1000,
    });
    expect(reclaimed.task).toMatchObject({ id: task, attempts: 1 });
  });

  it("respects capacity and answers a waiting claim as soon as work appears", async () => {
    test = await startTestHub(databases, kind);
    const host = await test.user("b1", ["host"]);
    await host.post("/api/v1/hosts/b1/checkin", { session: "s", arches: ["amd64"], capacity: 1 });
    const first = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64" });
    await test.admin.post("/api/v1/tasks", { method: "noop", arch: "amd64" });
    expect((await host.post<{ task: { id: number } }>("/api/v1/hosts/b1/claim", { session: "s", waitMs: 500 })).task.id).toBe(first.task);
    // full: a second claim gets nothing even though a task is free
    expect((await host.post<{ task: null }>("/api/v1/hosts/b1/claim", { session: "s", waitMs: 300 })).task).toBeNull();
    await host.post(`/api/v1/hosts/b1/tasks/${first.task}/start`, { session: "s" });
    await host.post(`/api/v1/hosts/b1/tasks/${first.task}/complete`, { session: "s" });
    // a long-poll that is waiting gets a task submitted later, long before its wait ends
    const other = await test.user("b2", ["host"]);
    await other.post("/api/v1/hosts/b2/checkin", { session: "t", arches: ["arm64"], capacity: 1 });
    const waiting = other.post<{ task: { id: number } | null }>("/api/v1/hosts/b2/claim", { session: "t", waitMs: 30_000 });
    await until(async () => test.hub.ctx.dispatcher.waiting > 0, 5000, "the claim to wait");
    const { task } = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "arm64" });
    expect((await waiting).task?.id).toBe(task);
  });

  it("stores uploads content-addressed, checks them, never overwrites and leaves nothing on mismatch", async () => {
    test = await startTestHub(databases, kind);
    const data = Buffer.from("some bytes\n");
    const first = await test.admin.uploadBuffer(data);
    const path = test.hub.ctx.store.pathOf(first.sha256);
    const { ino } = await stat(path);
    const again = await test.admin.raw("PUT", `/api/v1/artifacts/${first.sha256}?size=${data.length}`, {
      body: new Uint8Array(data),
      headers: { "content-type": "application/octet-stream" },
    });
    expect(await again.json()).toMatchObject({ created: false });
    expect((await stat(path)).ino).toBe(ino);
    const wrongSha = "0".repeat(64);
    await expect(
      test.admin.raw("PUT", `/api/v1/artifacts/${wrongSha}?size=${data.length}`, {
        body: new Uint8Array(data),
        headers: { "content-type": "application/octet-stream" },
      }),
    ).rejects.toMatchObject({ code: "ARTIFACT_MISMATCH" });
    await expect(
      test.admin.raw("PUT", `/api/v1/artifacts/${first.sha256}?size=3`, {
        body: new Uint8Array(data),
        headers: { "content-type": "application/octet-stream" },
      }),
    ).rejects.toMatchObject({
      code: "ARTIFACT_MISMATCH",
    });
    expect(await test.hub.ctx.store.has(wrongSha)).toBe(false);
    expect(await readdir(join(test.hub.ctx.dataDir, "tmp"))).toEqual([]);
    const down = await test.anonymous.raw("GET", `/api/v1/artifacts/${first.sha256}`);
    expect(Buffer.from(await down.arrayBuffer())).toEqual(data);
  });

  it("streams live logs with offsets and follows them to the end of the task", async () => {
    test = await startTestHub(databases, kind);
    const host = await test.user("b1", ["host"]);
    await host.post("/api/v1/hosts/b1/checkin", { session: "s", arches: ["amd64"], capacity: 1 });
    const { task } = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64" });
    await host.post("/api/v1/hosts/b1/claim", { session: "s", waitMs: 500 });
    await host.post(`/api/v1/hosts/b1/tasks/${task}/start`, { session: "s" });
    const append = (text: string) =>
      host.raw("POST", `/api/v1/hosts/b1/tasks/${task}/logs/build.log?session=s`, {
        body: text,
        headers: { "content-type": "text/plain" },
      });
    await append("line 1\n");
    const first = await test.anonymous.raw("GET", `/api/v1/tasks/${task}/logs/build.log`);
    expect(await first.text()).toBe("line 1\n");
    const offset = Number(first.headers.get("x-next-offset"));
    const follow = test.anonymous.raw("GET", `/api/v1/tasks/${task}/logs/build.log?offset=${offset}&follow=true`).then((r) => r.text());
    await append("line 2\n");
    await append("line 3\n");
    await host.post(`/api/v1/hosts/b1/tasks/${task}/complete`, { session: "s" });
    expect(await follow).toBe("line 2\nline 3\n");
    await expect(append("late\n")).rejects.toMatchObject({ code: "TASK_NOT_OWNED" });
  });

  it("delivers task and build events to a webhook in order, signed, retrying a failing receiver", async () => {
    test = await startTestHub(databases, kind, { webhookBackoffMs: 50 });
    const received: { id: number; kind: string; data: { state?: string } }[] = [];
    let refusals = 2;
    let badSignatures = 0;
    const receiver = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => {
        body += chunk;
      });
      request.on("end", () => {
        if (request.headers["x-deb-orchestrator-signature"] !== signWebhookBody("a-shared-secret-value", body)) badSignatures++;
        if (refusals > 0) {
          refusals--;
          response.writeHead(503).end();
          return;
        }
        received.push(JSON.parse(body));
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    try {
      const port = (receiver.address() as { port: number }).port;
      await test.admin.post("/api/v1/webhooks", {
        url: `http://127.0.0.1:${port}/hook`,
        secret: "a-shared-secret-value",
        kinds: ["task.", "build."],
        allowLocal: true,
      });
      await setupTags(test.admin);
      await startBuilder("builder-1");
      const taskId = await submitBuild(test.admin, "trixie", await writeSourcePackage(test.dir, "hooked", "1.0-1"));
      expect((await waitForTask(test.admin, taskId)).state).toBe("closed");
      const expected = (await test.admin.get<{ id: number; kind: string }[]>("/api/v1/events?limit=10000")).filter(
        (e) => e.kind.startsWith("task.") || e.kind.startsWith("build."),
      );
      await until(async () => received.length >= expected.length, 20_000, "every event to reach the webhook");
      expect(received.map((e) => e.id)).toEqual(expected.map((e) => e.id));
      expect(received.some((e) => e.kind === "build.state" && e.data.state === "complete")).toBe(true);
      expect(badSignatures).toBe(0);
      expect(refusals).toBe(0); // the first two deliveries were refused and retried
      const [hook] = await test.admin.get<{ failures: number; cursor: number }[]>("/api/v1/webhooks");
      expect(hook?.failures).toBe(0);
    } finally {
      receiver.close();
    }
  });

  it("streams events over SSE", async () => {
    test = await startTestHub(databases, kind);
    const controller = new AbortController();
    const response = await fetch(`${test.hub.url}/api/v1/events/stream?after=0`, { signal: controller.signal });
    const reader = response.body!.getReader();
    await test.admin.post("/api/v1/tags", { name: "sse-tag" });
    let text = "";
    while (!text.includes("tag.created")) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toContain('"name":"sse-tag"');
    controller.abort();
  });
});

describe("two hubs on one PostgreSQL database", () => {
  it("a task submitted through one hub wakes a builder waiting on the other at once (LISTEN/NOTIFY)", async () => {
    const test = await startTestHub(databases, "postgres");
    const second = await startHub({ db: test.dbUrl, dataDir: join(test.dir, "second") });
    try {
      const relayed: (string | null)[] = [];
      const wake = second.ctx.dispatcher.wake.bind(second.ctx.dispatcher);
      second.ctx.dispatcher.wake = (arch, capability, count, fromRelay) => {
        if (fromRelay) relayed.push(`${arch} ${capability}`);
        wake(arch, capability, count, fromRelay);
      };
      const host = await test.user("b1", ["host"]);
      const viaSecond = new RawHubClient({ url: second.url, token: (host as unknown as { token: string }).token });
      await viaSecond.post("/api/v1/hosts/b1/checkin", { session: "s", arches: ["ppc64el"], capacity: 1 });
      const waiting = viaSecond.post<{ task: { id: number } | null }>("/api/v1/hosts/b1/claim", { session: "s", waitMs: 30_000 });
      await until(async () => second.ctx.dispatcher.waiting > 0, 5000, "the claim to wait on the second hub");
      const { task } = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "ppc64el" });
      expect((await waiting).task?.id).toBe(task);
      expect(relayed).toContain("ppc64el build");
    } finally {
      await second.close();
      await test.close();
    }
  });
});
