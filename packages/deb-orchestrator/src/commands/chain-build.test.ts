import { writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { sourceFiles } from "../cli-support/source-files.js";
import { type ChainResult, chainBuild } from "../client/chain-build.js";
import { cliAgainst } from "../testing/cli-run.js";
import { CHAIN, CYCLE, makeDemoSources } from "../testing/dependent-sources.js";
import { createTarget, until } from "../testing/test-builds.js";
import { startNoopBuilder, startTestHub, type TestHub, useBuilders, useDatabases } from "../testing/test-hub.js";

/**
 * chain-build's ordering, waiting and stopping against a real hub with no-op builders (the real builds
 * are in chain-build.system.test.ts).
 */
const databases = useDatabases();

describe("chain-build", () => {
  let test: TestHub | undefined;
  // after-hooks run last-registered first: the hub is forgotten only once useBuilders has closed it
  afterEach(() => {
    test = undefined;
  });
  const builders = useBuilders(() => test);

  async function setUp(options: { failSources?: string[]; builders?: boolean } = {}) {
    test = await startTestHub(databases, "sqlite");
    await createTarget(test.admin);
    const tokenFile = join(test.dir, "admin.token");
    await writeFile(tokenFile, test.adminToken);
    if (options.builders !== false) await startBuilders(options);
    return cliAgainst(test.hub.url, tokenFile);
  }

  /** Two builders with room for two each: nothing but the order keeps a level from starting early. */
  async function startBuilders(options: { failSources?: string[] } = {}) {
    builders.push(await startNoopBuilder(test!, "b1", { capacity: 2, delayMs: 300, ...options }));
    builders.push(await startNoopBuilder(test!, "b2", { capacity: 2, delayMs: 300, ...options }));
  }

  it("builds a chain given in the wrong order level by level, each once, and says so in one summary", async () => {
    const cli = await setUp();
    const [lib, mid, app] = await makeDemoSources(test!.dir, CHAIN);
    const run = await cli("chain-build", "t", app!, mid!, lib!);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const summary = run.out.split("\n").slice(-4);
    expect(summary[0]).toMatch(/^LEVEL\s+SOURCE\s+VERSION\s+BUILD\s+STATE\s+TASK$/);
    expect(summary.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ["1", "chaindemo-lib", "1.0"],
      ["2", "chaindemo-mid", "1.0"],
      ["3", "chaindemo-app", "1.0"],
    ]);
    expect(summary.slice(1).every((l) => /\scomplete\s/.test(l))).toBe(true);
    // each level started after the one before it ended: build records in order, the next created after the last completed
    const builds = (await test!.admin.listBuilds()).sort((a, b) => a.id - b.id);
    expect(builds.map((b) => b.name)).toEqual(["chaindemo-lib", "chaindemo-mid", "chaindemo-app"]);
    for (let i = 1; i < builds.length; i++) expect(builds[i]!.createdAt).toBeGreaterThanOrEqual(builds[i - 1]!.completedAt!);

    // again: nothing is built twice, and --json says why
    const again = await cli("--json", "chain-build", "t", lib!, app!, mid!);
    expect(again.code).toBe(0);
    const result = again.json as ChainResult;
    expect(result.levels).toEqual([["chaindemo-lib"], ["chaindemo-mid"], ["chaindemo-app"]]);
    expect(result.entries.map((e) => e.outcome)).toEqual(["already-built", "already-built", "already-built"]);
    expect(await test!.admin.listBuilds()).toHaveLength(3);
  });

  it("follows a build of the same version the hub is building already instead of failing, and says so", async () => {
    await setUp({ builders: false });
    const [lib, mid, app] = await makeDemoSources(test!.dir, CHAIN);
    // someone submitted the library first; with no builder yet, its build stays building
    const { task: theirs } = await test!.admin.submitBuild({
      target: "t",
      dsc: basename(lib!),
      files: await Promise.all((await sourceFiles(lib!)).files.map((f) => test!.admin.uploadFile(f))),
    });
    await until(async () => (await test!.admin.findBuild("chaindemo-lib", "1.0"))?.state === "building");
    const lines: string[] = [];
    let started = false;
    const result = await chainBuild(test!.admin, "t", await Promise.all([app!, mid!, lib!].map(sourceFiles)), {
      onProgress: (line) => {
        lines.push(line);
        // the builders start only once the batch follows the other submission (so it cannot find it complete)
        if (line.startsWith("chaindemo-lib 1.0: following") && !started) {
          started = true;
          void startBuilders();
        }
      },
    });
    expect(lines).toContain(`chaindemo-lib 1.0: following task ${theirs}`);
    expect(result.ok).toBe(true);
    expect(result.entries.map((e) => [e.source, e.outcome, e.state])).toEqual([
      ["chaindemo-lib", "followed", "complete"],
      ["chaindemo-mid", "built", "complete"],
      ["chaindemo-app", "built", "complete"],
    ]);
    expect(result.entries[0]!.task).toBe(theirs);
    // the library was built once, by the first submission; the batch built the other two after it
    expect(await test!.admin.listTasks({ method: "build" })).toHaveLength(3);
    expect((await test!.admin.listBuilds()).map((b) => b.name).sort()).toEqual(["chaindemo-app", "chaindemo-lib", "chaindemo-mid"]);
  });

  it("stops at the first failed level and names what failed and what was not submitted", async () => {
    const cli = await setUp({ failSources: ["chaindemo-mid"] });
    const dscs = await makeDemoSources(test!.dir, CHAIN);
    const run = await cli("chain-build", "t", ...dscs.reverse());
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/^level 2 failed: chaindemo-mid 1\.0 \(task \d+\): .*pretend build failure.*; not submitted: chaindemo-app$/);
    expect(run.out).toMatch(/^3\s+chaindemo-app\s+1\.0\s+-\s+not submitted\s+-$/m);
    expect((await test!.admin.listBuilds()).map((b) => b.name).sort()).toEqual(["chaindemo-lib", "chaindemo-mid"]);
  });

  it("reports a cycle with the packages in it before submitting anything", async () => {
    const cli = await setUp();
    const dscs = await makeDemoSources(test!.dir, [...CYCLE, CHAIN[0]!]);
    const run = await cli("chain-build", "t", ...dscs);
    expect(run.code).toBe(2);
    expect(run.err).toContain(
      "build-dependency cycle: cycledemo-a needs cycledemo-b-dev (built by cycledemo-b); cycledemo-b needs cycledemo-a-dev (built by cycledemo-a)",
    );
    expect(await test!.admin.listTasks()).toEqual([]);
    expect(await test!.admin.listBuilds()).toEqual([]);
  });
});
