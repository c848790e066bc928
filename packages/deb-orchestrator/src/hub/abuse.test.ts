import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { databaseKinds, startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";

const databases = useDatabases();

/** Deterministic pseudo-random numbers, so a failure can be replayed. */
function prng(seed: number) {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

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
    const random = prng(4242);
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
