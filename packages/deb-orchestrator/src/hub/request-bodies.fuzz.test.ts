import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fuzzSeed, fuzzSync, Mutator, refused } from "../../../../test/fuzz.js";
import { startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";
import { parseSubmittedDsc } from "./submitted-source.js";
import { checkArch, checkFileName, checkName, checkPackageName, checkSha256, checkVersion } from "./validate.js";

/**
 * The hub's request bodies, fuzzed: valid bodies of the endpoints that take one are mutated as text
 * (test/fuzz.ts) and as JSON (a value somewhere replaced by a hostile one: huge numbers, long or
 * traversing strings, deep nesting, wrong types) and sent through the real server (schemas, validate.ts,
 * handlers, SQLite). Every answer must be a success or a 4xx `{code, message}`: never a 5xx, never a
 * crash. The request validators and the .dsc summary get thousands of mutated values directly.
 */
const databases = useDatabases();
const mutator = new Mutator(fuzzSeed);
const sha = "a".repeat(64);

const hostile: unknown[] = [
  "",
  "..",
  "../../etc/passwd",
  "a/b",
  "A".repeat(5000),
  "\u0000",
  "\u{1f4a5}",
  "<script>alert(4)</script>",
  "1/../../x",
  -1,
  0,
  2 ** 53 + 1,
  1e308,
  -1e308,
  0.5,
  null,
  true,
  [],
  {},
  { __proto__: { admin: true } },
  JSON.parse('{"__proto__": {"polluted": 1}}'),
  [sha],
  Array.from({ length: 2000 }, () => "amd64"),
];

/** A copy of value with one random place (or the whole) replaced by something hostile, and where. */
function mutateJson(value: unknown, where = "$"): [unknown, string] {
  const deep = () => {
    let nested: unknown = "x";
    const levels = 10 + mutator.int(3000);
    for (let i = 0; i < levels; i++) nested = mutator.random() < 0.5 ? [nested] : { a: nested };
    return [nested, `${where} nested ${levels} deep`] as [unknown, string];
  };
  if (value !== null && typeof value === "object" && mutator.random() < 0.75) {
    const keys = Object.keys(value);
    if (keys.length > 0) {
      const key = mutator.pick(keys);
      const copy: Record<string, unknown> = Array.isArray(value) ? ([...value] as unknown as Record<string, unknown>) : { ...value };
      const roll = mutator.int(10);
      if (roll === 0) {
        delete copy[key];
        return [copy, `${where}.${key} removed`];
      }
      if (roll === 1) {
        copy[`extra${mutator.int(3)}`] = mutator.pick(hostile);
        return [copy, `${where} got an extra key`];
      }
      const [inner, what] = mutateJson(copy[key], `${where}.${key}`);
      copy[key] = inner;
      return [copy, what];
    }
  }
  if (mutator.int(8) === 0) return deep();
  const replacement = mutator.pick(hostile);
  return [replacement, `${where} = ${JSON.stringify(replacement)?.slice(0, 40)}`];
}

let test: TestHub;
beforeAll(async () => {
  test = await startTestHub(databases, "sqlite");
  await test.admin.post("/api/v1/tags", { name: "base", arches: ["amd64"] });
  await test.admin.post("/api/v1/tags", { name: "dest", parents: ["base"] });
  await test.admin.post("/api/v1/targets", { name: "t", buildTag: "base", destTag: "dest" });
  await test.admin.post("/api/v1/hosts/h/checkin", { session: "s", arches: ["amd64"], capacity: 1 });
});
afterAll(async () => test?.close());

const endpoints: Array<[string, string, unknown]> = [
  ["POST", "/api/v1/tags", { name: "fuzz", arches: ["amd64"], parents: ["base"], externalRepos: [] }],
  ["PATCH", "/api/v1/tags/base", { arches: ["amd64", "arm64"], parents: [] }],
  ["POST", "/api/v1/targets", { name: "tg", buildTag: "base", destTag: "dest" }],
  ["POST", "/api/v1/external-repos", { name: "deb", url: "http://127.0.0.1/debian", suite: "trixie", components: ["main"] }],
  ["POST", "/api/v1/builds", { target: "t", dsc: "a_1.0.dsc", files: [{ name: "a_1.0.dsc", sha256: sha, size: 10 }], arches: ["amd64"] }],
  ["POST", "/api/v1/tasks", { method: "noop", arch: "amd64", priority: 5, sleepMs: 0 }],
  ["POST", "/api/v1/users", { name: "u", perms: ["build"] }],
  ["POST", "/api/v1/users/u/tokens", { label: "x" }],
  ["POST", "/api/v1/tags/dest/builds", { build: "hello/1.0-1" }],
  ["POST", "/api/v1/hosts/h/checkin", { session: "s", arches: ["amd64"], capacity: 2, load: 0 }],
  ["POST", "/api/v1/hosts/h/heartbeat", { session: "s", load: 1, tasks: [1, 2] }],
  [
    "POST",
    "/api/v1/hosts/h/tasks/999/complete",
    {
      session: "s",
      result: {
        files: [{ name: "a_1.0_amd64.deb", sha256: sha, size: 1, kind: "deb", package: "a", version: "1.0", arch: "amd64" }],
        installed: [{ name: "dpkg", version: "1.22", arch: "amd64" }],
      },
    },
  ],
  ["POST", "/api/v1/hosts/h/tasks/999/fail", { session: "s", error: { code: "BUILD_STEP_FAILED", message: "x" } }],
  ["POST", "/api/v1/webhooks", { url: "http://127.0.0.1:9/hook", secret: "0123456789abcdef", kinds: ["task.state"] }],
];

describe(`hub request bodies, mutated (seed ${fuzzSeed})`, () => {
  it("answers every mutated body with a success or a coded 4xx", async () => {
    const failures: string[] = [];
    const codes = new Set<string>();
    const cases = 1000;
    for (let i = 0; i < cases; i++) {
      const [method, url, body] = endpoints[i % endpoints.length]!;
      let payload: string;
      let what: string;
      if (i % 3 === 0) {
        const [mutated, how] = mutator.mutate(Buffer.from(JSON.stringify(body)));
        payload = mutated.toString("utf8");
        what = how;
      } else {
        const [mutated, how] = mutateJson(body);
        payload = JSON.stringify(mutated) ?? "null";
        what = how;
      }
      const response = await test.hub.app.inject({
        method: method as "POST",
        url,
        headers: { authorization: `Bearer ${test.adminToken}`, "content-type": "application/json" },
        payload,
      });
      let parsed: { code?: unknown; message?: unknown } = {};
      try {
        parsed = response.json();
      } catch {
        // checked below
      }
      if (typeof parsed.code === "string") codes.add(parsed.code);
      const ok =
        response.statusCode < 300 ||
        (response.statusCode >= 400 && response.statusCode < 500 && typeof parsed.code === "string" && typeof parsed.message === "string");
      if (!ok)
        failures.push(`${method} ${url} (seed ${fuzzSeed}, case ${i}: ${what}) -> ${response.statusCode} ${response.body.slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
    // the bodies reached the schemas, the validators and the handlers
    for (const code of ["REQUEST_INVALID", "NAME_INVALID", "NOT_FOUND"]) expect(codes).toContain(code);
    expect((await test.anonymous.get<{ ok: boolean }>("/api/v1/health")).ok).toBe(true);
  }, 120_000);

  it("the request validators and the .dsc summary refuse mutated values with coded errors", () => {
    const values = ["hello", "2.10-5", "amd64", "hello_2.10-5.dsc", sha, "base-tag"].map((v) => Buffer.from(v));
    const checks = [checkPackageName, checkVersion, checkArch, checkFileName, checkSha256, (v: string) => checkName(v, "tag")];
    const outcomes = checks.map((check) => fuzzSync(mutator, `validator ${check.name}`, values, 500, (_, text) => check(text)));
    const dsc = Buffer.from(
      `Format: 3.0 (quilt)\nSource: hello\nBinary: hello\nArchitecture: any\nVersion: 2.10-5\nMaintainer: x <x@example.org>\nChecksums-Sha256:\n ${sha} 1000 hello_2.10.orig.tar.gz\n ${sha} 200 hello_2.10-5.debian.tar.xz\nFiles:\n ${"b".repeat(32)} 1000 hello_2.10.orig.tar.gz\n ${"b".repeat(32)} 200 hello_2.10-5.debian.tar.xz\n`,
    );
    const summaries = fuzzSync(mutator, "parseSubmittedDsc", [dsc], 2000, (_, text) => parseSubmittedDsc(text));
    for (const outcome of outcomes) expect(refused(outcome)).toBeGreaterThan(0);
    expect(refused(summaries)).toBeGreaterThan(0);
    expect(summaries.ok).toBeGreaterThan(0);
  });
});
