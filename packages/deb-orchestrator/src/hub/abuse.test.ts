import { mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { afterEach, describe, expect, it } from "vitest";
import { seededRandom } from "../../../../test/fuzz.js";
import { submitBuild, until, waitForTask, writeSourcePackage } from "../testing/test-builds.js";
import { databaseKinds, startNoopBuilder, startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";

const databases = useDatabases();

const tables = [
  "users",
  "tokens",
  "permissions",
  "hosts",
  "packages",
  "builds",
  "binaries",
  "tags",
  "tag_inheritance",
  "external_repos",
  "targets",
  "tagged_builds",
  "tasks",
  "task_files",
  "repos",
  "events",
] as const;

async function snapshot(test: TestHub): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const row = await test.hub.ctx.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .executeTakeFirstOrThrow();
    counts[table] = Number(row.n);
  }
  const objects = await readdir(join(test.hub.ctx.dataDir, "objects")).catch(() => []);
  counts.objectDirs = objects.length;
  return counts;
}

describe.each(databaseKinds)("hostile requests on %s", (kind) => {
  let test: TestHub;
  afterEach(async () => test?.close());

  it("answers hundreds of malformed and unauthorised requests with 4xx codes and changes nothing", async () => {
    test = await startTestHub(databases, kind);
    await test.admin.post("/api/v1/tags", { name: "base" });
    await test.admin.post("/api/v1/tags", { name: "dest", parents: ["base"] });
    await test.admin.post("/api/v1/targets", { name: "t", buildTag: "base", destTag: "dest" });
    const builderClient = await test.user("reader", ["build"]);
    const readerToken = (builderClient as unknown as { token: string }).token;
    const before = await snapshot(test);
    const random = seededRandom(4242);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const junk = [
      "",
      "..",
      "../../etc/passwd",
      "%2e%2e%2f",
      "a/b",
      "A".repeat(5000),
      "\u0000",
      "💥",
      "-1",
      "0",
      "1e309",
      "null",
      "<script>",
      " ",
      "name with space",
    ];
    const bodies = [
      "not json",
      "{",
      "[]",
      "null",
      '{"name": 5}',
      '{"name": ""}',
      '{"name": "../x"}',
      '{"name": "ok", "extra": 1}',
      '{"name": "x", "arches": "amd64"}',
      '{"name": "x", "parents": ["no-such-tag"]}',
      '{"target": "t", "dsc": "../a.dsc", "files": []}',
      '{"target": "t", "dsc": "a.dsc", "files": [{"name": "a.dsc", "sha256": "zz", "size": 1}]}',
      `{"target": "t", "dsc": "a.dsc", "files": [{"name": "a.dsc", "sha256": "${"a".repeat(64)}", "size": 1}]}`,
      '{"method": "noop", "arch": "AMD64!"}',
      '{"method": "shell", "arch": "amd64"}',
      '{"perm": "root"}',
      '{"session": "s", "waitMs": -5}',
      '{"session": "../../", "arches": ["amd64"], "capacity": 1}',
      `{"name": "${"x".repeat(100)}"}`,
      '{"build": "hello/1:2:3::"}',
      '{"build": "no-such/1.0"}',
    ];
    const endpoints: [string, string][] = [
      ["POST", "/api/v1/tags"],
      ["PATCH", "/api/v1/tags/base"],
      ["PATCH", "/api/v1/tags/JUNK"],
      ["POST", "/api/v1/targets"],
      ["POST", "/api/v1/builds"],
      ["POST", "/api/v1/tasks"],
      ["POST", "/api/v1/users"],
      ["POST", "/api/v1/users/JUNK/permissions"],
      ["POST", "/api/v1/users/admin/tokens"],
      ["POST", "/api/v1/tags/dest/builds"],
      ["DELETE", "/api/v1/tags/dest/builds?build=JUNK"],
      ["POST", "/api/v1/tags/JUNK/regen"],
      ["POST", "/api/v1/tasks/JUNK/cancel"],
      ["POST", "/api/v1/tasks/999999/resubmit"],
      ["POST", "/api/v1/hosts/JUNK/checkin"],
      ["POST", "/api/v1/hosts/JUNK/claim"],
      ["POST", "/api/v1/hosts/JUNK/heartbeat"],
      ["POST", "/api/v1/hosts/JUNK/tasks/1/complete"],
      ["POST", "/api/v1/hosts/JUNK/tasks/JUNK/logs/JUNK?session=x"],
      ["POST", "/api/v1/hosts/JUNK/enable"],
      ["PUT", "/api/v1/artifacts/JUNK?size=JUNK"],
      ["GET", "/api/v1/tasks/JUNK"],
      ["GET", "/api/v1/builds/JUNK"],
      ["GET", "/api/v1/builds/JUNK/why"],
      ["GET", "/api/v1/tags/JUNK/latest/JUNK"],
      ["GET", "/api/v1/tasks/1/logs/JUNK?offset=JUNK"],
      ["GET", "/api/v1/artifacts/JUNK"],
      ["GET", "/repos/JUNK/latest/JUNK"],
      ["GET", "/api/v1/events?after=JUNK"],
      ["GET", "/api/v1/JUNK"],
      ["DELETE", "/api/v1/users"],
    ];
    const tokens = [
      undefined,
      "Bearer nonsense-token-value",
      "Basic YWRtaW46YWRtaW4=",
      `Bearer ${readerToken}`,
      "Bearer ",
      `Bearer ${test.adminToken}x`,
      `Bearer ${test.adminToken}`,
    ];
    const codes = new Set<string>();
    const failures: string[] = [];
    const requests = 400;
    for (let i = 0; i < requests; i++) {
      const [method, template] = pick(endpoints);
      const path = template.replace(/JUNK/g, () => encodeURIComponent(pick(junk)).slice(0, 3000));
      const auth = pick(tokens);
      const body = method === "GET" || method === "DELETE" ? undefined : random() < 0.05 ? "x".repeat(5 * 1024 * 1024) : pick(bodies);
      const contentType = pick([
        "application/json",
        "application/json",
        "text/plain",
        "application/octet-stream",
        "application/x-www-form-urlencoded",
      ]);
      const response = await fetch(`${test.hub.url}${path}`, {
        method,
        headers: { ...(auth ? { authorization: auth } : {}), ...(body !== undefined ? { "content-type": contentType } : {}) },
        body,
      }).catch((error: Error) => ({ status: 0, text: async () => error.message, headers: new Headers() }) as unknown as Response);
      const text = await response.text();
      let parsed: { code?: unknown; message?: unknown } = {};
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        // checked below
      }
      // a read may legitimately succeed (a junk value can be a valid offset); anything else must be a coded 4xx
      const readOk = method === "GET" && response.status === 200;
      const ok =
        readOk ||
        (response.status >= 400 && response.status < 500 && typeof parsed.code === "string" && typeof parsed.message === "string");
      if (typeof parsed.code === "string") codes.add(parsed.code);
      if (!ok)
        failures.push(
          `${method} ${path.slice(0, 120)} [${contentType}, ${auth?.slice(0, 12)}] -> ${response.status} ${text.slice(0, 200)}`,
        );
    }
    expect(failures).toEqual([]);
    // the requests reached every layer: authentication, permissions, schemas, body limits, handlers
    for (const code of [
      "AUTH_REQUIRED",
      "PERMISSION_DENIED",
      "REQUEST_INVALID",
      "BODY_TOO_LARGE",
      "ROUTE_NOT_FOUND",
      "NOT_FOUND",
      "NAME_INVALID",
    ])
      expect(codes).toContain(code);
    // still up, and nothing changed
    expect(await test.anonymous.get("/api/v1/health")).toMatchObject({ ok: true });
    expect(await snapshot(test)).toEqual(before);
    expect(await readdir(join(test.hub.ctx.dataDir, "tmp"))).toEqual([]);
  }, 120_000);
});

/** A .deb with the given control fields, built by dpkg-deb without its checks (a hostile builder's). */
async function hostileDeb(dir: string, name: string, control: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(dir, "deb-root-"));
  await mkdir(join(root, "DEBIAN"));
  const fields = { Maintainer: "x <x@example.org>", Description: "x", ...control };
  await writeFile(
    join(root, "DEBIAN", "control"),
    `${Object.entries(fields)
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n")}\n`,
  );
  const path = join(dir, name);
  await run("dpkg-deb", ["--nocheck", "--root-owner-group", "-Zgzip", "--build", root, path], { debianPackage: "dpkg" });
  return path;
}

interface BadResult {
  what: string;
  files: (dir: string) => Promise<{ path: string; name: string; kind: string; extra?: Record<string, string> }[]>;
}

const good = { Package: "demo", Version: "1.0-1", Architecture: "amd64" };
const badResults: BadResult[] = [
  {
    what: "a path-traversal Version",
    files: async (dir) => {
      const version = "1/../../../../../../../../hub-escaped";
      const path = await hostileDeb(dir, "traversal.deb", { ...good, Version: version });
      return [{ path, name: "demo_1.0-1_amd64.deb", kind: "deb", extra: { package: "demo", version, arch: "amd64" } }];
    },
  },
  {
    what: "a file that is not a .deb",
    files: async (dir) => {
      await writeFile(join(dir, "not-a-deb"), "<html>not a package</html>\n");
      return [{ path: join(dir, "not-a-deb"), name: "demo_1.0-1_amd64.deb", kind: "deb" }];
    },
  },
  {
    what: "a package the .dsc's Binary list does not name",
    files: async (dir) => [
      {
        path: await hostileDeb(dir, "other.deb", { ...good, Package: "other", Source: "demo" }),
        name: "other_1.0-1_amd64.deb",
        kind: "deb",
      },
    ],
  },
  {
    what: "a package name that is no name",
    files: async (dir) => [
      {
        path: await hostileDeb(dir, "script.deb", { ...good, Package: "<script>alert(4)</script>" }),
        name: "demo_1.0-1_amd64.deb",
        kind: "deb",
      },
    ],
  },
  {
    what: "a Version other than the .dsc's",
    files: async (dir) => [
      { path: await hostileDeb(dir, "v2.deb", { ...good, Version: "2.0-1" }), name: "demo_2.0-1_amd64.deb", kind: "deb" },
    ],
  },
  {
    what: "an Architecture the task does not build",
    files: async (dir) => [
      { path: await hostileDeb(dir, "arm.deb", { ...good, Architecture: "arm64" }), name: "demo_1.0-1_arm64.deb", kind: "deb" },
    ],
  },
  {
    what: "control fields other than the builder reported",
    files: async (dir) => [
      {
        path: await hostileDeb(dir, "said.deb", good),
        name: "demo_1.0-1_amd64.deb",
        kind: "deb",
        extra: { package: "demo", version: "9.9-9", arch: "amd64" },
      },
    ],
  },
  {
    what: "a .changes for another source",
    files: async (dir) => {
      const deb = await hostileDeb(dir, "ok.deb", good);
      const changes = join(dir, "x.changes");
      await writeFile(
        changes,
        "Format: 1.8\nDate: Thu, 01 Jan 2026 00:00:00 +0000\nSource: other\nBinary: demo\nArchitecture: amd64\nVersion: 1.0-1\nDistribution: unstable\nMaintainer: x <x@example.org>\nChanges:\n x\nFiles:\n 00000000000000000000000000000000 1 misc optional demo_1.0-1_amd64.deb\n",
      );
      return [
        { path: deb, name: "demo_1.0-1_amd64.deb", kind: "deb" },
        { path: changes, name: "demo_1.0-1_amd64.changes", kind: "changes" },
      ];
    },
  },
  { what: "no .deb at all", files: async () => [] },
];

describe.each(databaseKinds)("hostile builder results on %s", (kind) => {
  let test: TestHub;
  afterEach(async () => test?.close());

  it("fails the task with BUILD_RESULT_INVALID, tags nothing, writes nothing outside and shows no host path", async () => {
    test = await startTestHub(databases, kind);
    await test.admin.post("/api/v1/tags", { name: "base", arches: ["amd64"] });
    await test.admin.post("/api/v1/tags", { name: "dest", parents: ["base"] });
    await test.admin.post("/api/v1/targets", { name: "t", buildTag: "base", destTag: "dest" });
    const host = await test.user("evil", ["host"]);
    await host.post("/api/v1/hosts/evil/checkin", { session: "s", arches: ["amd64"], capacity: 1 });
    const work = await mkdtemp(join(test.dir, "work-"));
    for (const [i, bad] of badResults.entries()) {
      const dir = await mkdtemp(join(work, `case-${i}-`));
      const top = await submitBuild(test.admin, "t", await writeSourcePackage(dir, "demo", "1.0-1"));
      const claimed = await until(async () => {
        const answer = await host.post<{ task: { id: number; method: string } | null }>("/api/v1/hosts/evil/claim", {
          session: "s",
          waitMs: 500,
          start: true,
        });
        return answer.task ?? undefined;
      });
      expect(claimed.method).toBe("buildArch");
      const files = [];
      for (const file of await bad.files(dir)) {
        const uploaded = await host.uploadFile(file.path);
        files.push({ ...uploaded, name: file.name, kind: file.kind, ...file.extra });
      }
      const answer = await host.post(`/api/v1/hosts/evil/tasks/${claimed.id}/complete`, { session: "s", result: { files } }).then(
        () => undefined,
        (error: unknown) => error as { code?: string; message?: string },
      );
      expect(answer?.code, bad.what).toBe("BUILD_RESULT_INVALID");
      expect(answer?.message, bad.what).not.toContain(test.dir);
      const task = await waitForTask(test.anonymous, claimed.id);
      expect(task, bad.what).toMatchObject({ state: "failed", error: { code: "BUILD_RESULT_INVALID" } });
      const build = await waitForTask(test.anonymous, top);
      expect(build.state, bad.what).toBe("failed");
      expect(JSON.stringify(task) + JSON.stringify(build), bad.what).not.toContain(test.dir);
    }
    await test.hub.engine.idle();
    // nothing was recorded, tagged or published, and nothing escaped the data directory
    const tagged = await test.hub.ctx.db.selectFrom("tagged_builds").selectAll().execute();
    const binaries = await test.hub.ctx.db.selectFrom("binaries").selectAll().execute();
    expect([tagged, binaries]).toEqual([[], []]);
    expect((await readdir(test.dir)).filter((n) => n.includes("escaped"))).toEqual([]);
    const events = await test.anonymous.raw("GET", "/api/v1/events?after=0").then((r) => r.text());
    expect(events).not.toContain(test.dir);
  }, 120_000);

  it("shows no host path when a tag's repository cannot be written", async () => {
    test = await startTestHub(databases, kind);
    await test.admin.post("/api/v1/tags", { name: "base", arches: ["amd64"] });
    await test.admin.post("/api/v1/targets", { name: "t", buildTag: "base", destTag: "base" });
    const builder = await startNoopBuilder(test, "b1");
    try {
      const top = await submitBuild(test.admin, "t", await writeSourcePackage(test.dir, "demo", "1.0-1"));
      expect((await waitForTask(test.admin, top)).state).toBe("closed");
    } finally {
      await builder.stop(100);
    }
    // the build's .deb vanishes from the artifact store: the next repository fails, naming the file
    const [binary] = await test.hub.ctx.db.selectFrom("binaries").select("sha256").execute();
    expect(await test.hub.ctx.store.remove(binary!.sha256)).toBe(true);
    const { task } = await test.admin.post<{ task: number }>("/api/v1/tags/base/regen", {});
    const failed = await waitForTask(test.anonymous, task);
    expect(failed).toMatchObject({ state: "failed", error: { code: "PUBLISH_FAILED" } });
    expect(JSON.stringify(failed)).toContain(`artifact ${binary!.sha256}`);
    const seen = [
      JSON.stringify(failed),
      await test.anonymous.raw("GET", "/api/v1/events?after=0").then((r) => r.text()),
      await test.anonymous.raw("GET", `/tasks/${task}`).then((r) => r.text()),
    ];
    for (const text of seen) expect(text).not.toContain(test.hub.ctx.dataDir);
  }, 120_000);
});
