import { BinaryPackageIndex, checkBuildDependencies, iterateDeb822, parseDsc } from "@debian-bootc/debian";
import { describe, expect, it } from "vitest";
import { until, waitForTask } from "../../testing/test-builds.js";
import { databaseKinds, startNoopBuilder, startTestHub, type TestHub, useBuilders, useDatabases } from "../../testing/test-hub.js";
import { whyTask } from "../queries.js";
import { depWaitReason, depWaitRecord, findProducers } from "./dep-wait.js";
import * as transition from "./transitions.js";

const SEARCHED = ["tag demo", "debian/trixie"];

/** A Packages index of what the base distribution holds, and a source that needs the demo library. */
const index = BinaryPackageIndex.fromIndexes("amd64", [
  {
    name: "debian/trixie",
    paragraphs: iterateDeb822(
      [
        "Package: libc6\nVersion: 2.41-12\nArchitecture: amd64\nMulti-Arch: same\n",
        "Package: libbarsdemo-old-dev\nVersion: 0.9\nArchitecture: amd64\n",
        "Package: libbarsdemo-mid-dev\nVersion: 1.0\nArchitecture: amd64\nDepends: libbarsdemo-dev (>= 1.0)\n",
      ].join("\n"),
    ),
  },
]);

function source(buildDepends: string) {
  return parseDsc(
    `Format: 3.0 (native)\nSource: barsdemo-app\nBinary: barsdemo-app\nArchitecture: any\nVersion: 1.0\nMaintainer: T <t@localhost>\nBuild-Depends: ${buildDepends}\nFiles:\n ${"0".repeat(32)} 1 barsdemo-app_1.0.tar.xz\n`,
  ).paragraph;
}

const record = (buildDepends: string) =>
  depWaitRecord(checkBuildDependencies(source(buildDepends), index, { arch: "amd64", essential: false }), SEARCHED, 1);

const lib = (version: string) => ({ build: 12, source: "barsdemo-lib", version, binaries: ["libbarsdemo1", "libbarsdemo-dev"] });

describe("dep-wait in plain words", () => {
  it("says what is missing and that no pending build produces it", () => {
    const missing = record("libc6, libbarsdemo-dev (>= 1.0)");
    expect(missing.unsatisfied.map((u) => u.relation)).toEqual(["libbarsdemo-dev (>= 1.0)"]);
    expect(depWaitReason(missing, findProducers(missing, [], "amd64"))).toBe(
      "waiting: libbarsdemo-dev (>= 1.0) is not in tag demo or debian/trixie, and no pending build produces it",
    );
  });

  it("names the pending build that produces it, with the binary and its version", () => {
    const missing = record("libbarsdemo-dev (>= 1.0)");
    expect(depWaitReason(missing, findProducers(missing, [lib("1.0")], "amd64"))).toBe(
      "waiting for build 12 (barsdemo-lib 1.0), which produces libbarsdemo-dev 1.0",
    );
  });

  it("does not count a pending build whose version does not satisfy the relation", () => {
    const missing = record("libbarsdemo-dev (>= 1.0)");
    expect(findProducers(missing, [lib("0.9")], "amd64")).toEqual([undefined]);
    expect(depWaitReason(missing, findProducers(missing, [lib("0.9")], "amd64"))).toMatch(/no pending build produces it$/);
  });

  it("follows a build-dependency whose own dependency is missing to the build that produces that", () => {
    const deep = record("libbarsdemo-mid-dev");
    expect(deep.unsatisfied[0]!.line).toMatch(/^libbarsdemo-mid-dev cannot be installed/);
    expect(deep.unsatisfied[0]!.wanted).toContain("libbarsdemo-dev (>= 1.0)");
    expect(depWaitReason(deep, findProducers(deep, [lib("1.0")], "amd64"))).toBe(
      "waiting for build 12 (barsdemo-lib 1.0), which produces libbarsdemo-dev 1.0",
    );
  });

  it("lists every unsatisfied relation, each with its own answer", () => {
    const two = record("libbarsdemo-dev (>= 1.0), libnothere-dev");
    expect(depWaitReason(two, findProducers(two, [lib("1.0")], "amd64"))).toBe(
      "waiting for build 12 (barsdemo-lib 1.0), which produces libbarsdemo-dev 1.0; waiting: libnothere-dev is not in tag demo or debian/trixie, and no pending build produces it",
    );
  });
});

const databases = useDatabases();

describe.each(databaseKinds)("the dep-wait state on %s", (kind) => {
  let test: TestHub;
  const builders = useBuilders(() => test);
  const held = { checkedAt: 1, searched: SEARCHED, unsatisfied: [] as ReturnType<typeof record>["unsatisfied"] };

  async function insertNoop(depWait?: typeof held) {
    const { ctx } = test.hub;
    const admin = await ctx.db.selectFrom("users").select("id").where("name", "=", "admin").executeTakeFirstOrThrow();
    const id = await ctx.db.transaction().execute((trx) =>
      transition.insert(trx, ctx, {
        parentId: null,
        label: null,
        method: "noop",
        arch: "amd64",
        priority: 1,
        ownerId: admin.id,
        request: { sleepMs: 0 },
        ...(depWait ? { depWait } : {}),
      }),
    );
    ctx.dispatcher.wake("amd64");
    return id!;
  }

  it("holds a task without a builder until it is released, once", async () => {
    test = await startTestHub(databases, kind);
    builders.push(await startNoopBuilder(test, "b1"));
    const waiting = await insertNoop({ ...held, unsatisfied: record("libbarsdemo-dev (>= 1.0)").unsatisfied });
    // a task queued after it runs while it waits
    const later = await insertNoop();
    expect((await waitForTask(test.admin, later)).state).toBe("closed");
    const stillWaiting = await test.admin.getTask(waiting);
    expect(stillWaiting).toMatchObject({ state: "dep-wait", host: null, startedAt: null, attempts: 0 });
    expect(stillWaiting.history[0]).toMatchObject({ kind: "task.created", state: "dep-wait" });

    const { ctx } = test.hub;
    const release = () => ctx.db.transaction().execute((trx) => transition.releaseDepWait(trx, ctx, waiting, { sleepMs: 0 }));
    expect(await release()).toBe(true);
    ctx.dispatcher.wake("amd64");
    expect(await release()).toBe(false); // a compare-and-set: released once
    expect((await waitForTask(test.admin, waiting)).state).toBe("closed");
    const states = (await test.admin.getTask(waiting)).history.map((h) => (h as { state?: string }).state);
    expect(states).toEqual(["dep-wait", "free", "assigned", "open", "closed"]);
  });

  it("cancels a waiting task, which then cannot be released", async () => {
    test = await startTestHub(databases, kind);
    const waiting = await insertNoop(held);
    await test.admin.cancelTask(waiting);
    const { ctx } = test.hub;
    expect(await ctx.db.transaction().execute((trx) => transition.releaseDepWait(trx, ctx, waiting, {}))).toBe(false);
    expect((await test.admin.getTask(waiting)).state).toBe("canceled");
  });

  it("lists dep-wait tasks by state and counts them on the overview", async () => {
    test = await startTestHub(databases, kind);
    const waiting = await insertNoop(held);
    expect((await test.admin.listTasks({ state: ["dep-wait"] })).map((t) => t.id)).toEqual([waiting]);
    const page = await (await test.admin.raw("GET", "/")).text();
    expect(page).toMatch(/<span class="n">1<\/span>waiting for build-dependencies/);
  });

  it("shows apt's parsed unsatisfied relations for a build that failed on them, not its output", async () => {
    test = await startTestHub(databases, kind);
    const id = await insertNoop();
    const { ctx } = test.hub;
    await until(async () => (await test.admin.getTask(id)).state === "free");
    const failure = {
      code: "BUILD_STEP_FAILED",
      message: "dependencies-failed: DEPENDENCIES_UNSATISFIABLE build dependencies of x cannot be satisfied: ...",
      unsatisfied: [
        { package: "satisfy:command-line", type: "Depends", relation: "libfoo-dev (>= 2)", reasons: ["1.0-1 is to be installed"] },
        { package: "libbar1", type: "Depends", relation: "libbaz1 (= 3)", reasons: ["it is not installable"] },
      ],
    };
    await ctx.db
      .transaction()
      .execute((trx) =>
        transition.fail(trx, ctx, id, { userId: null, error: { code: failure.code, message: failure.message }, result: { failure } }),
      );
    const why = await whyTask(ctx, id);
    expect(why.reason).toBe(
      `task ${id} (noop, amd64) failed: apt could not satisfy its build-dependencies: libfoo-dev (>= 2) (1.0-1 is to be installed); libbar1 needs libbaz1 (= 3) (it is not installable)`,
    );
    expect(why.details).not.toHaveProperty("buildLogTail");
  });
});
