import { writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { dscFilePaths } from "@debian-bootc/debian";
import { afterEach, describe, expect, it } from "vitest";
import type { RebuildListView, RebuildPlanView } from "../api/tags.js";
import { cliAgainst } from "../testing/cli-run.js";
import { CHAIN, type DemoSource, makeDemoSources } from "../testing/dependent-sources.js";
import { createTarget, until } from "../testing/test-builds.js";
import { databaseKinds, startNoopBuilder, startTestHub, type TestHub, useBuilders, useDatabases } from "../testing/test-hub.js";

/**
 * Automatic rebuilds against a real hub with no-op builders (the real builds, and what they were built
 * against, are in auto-rebuild.system.test.ts).
 */
const databases = useDatabases();
const UNRELATED: DemoSource = {
  source: "unrelated-demo",
  version: "1.0",
  buildDepends: "libother-dev",
  binaries: [{ name: "unrelated-demo" }],
};
const LIB_1_1: DemoSource = { ...CHAIN[0]!, version: "1.1" };

describe.each(databaseKinds)("automatic rebuilds on %s", (kind) => {
  let test: TestHub | undefined;
  // after-hooks run last-registered first: the hub is forgotten only once useBuilders has closed it
  afterEach(() => {
    test = undefined;
  });
  const builders = useBuilders(() => test);

  async function setUp() {
    test = await startTestHub(databases, kind);
    await createTarget(test.admin);
    const tokenFile = join(test.dir, "admin.token");
    await writeFile(tokenFile, test.adminToken);
    builders.push(await startNoopBuilder(test, "b1", { capacity: 2 }));
    return cliAgainst(test.hub.url, tokenFile);
  }

  /** Builds of each name and version, sorted by id. */
  async function builds() {
    return (await test!.admin.listBuilds()).sort((a, b) => a.id - b.id).map((b) => `${b.name} ${b.version} ${b.state}`);
  }

  it("rebuilds the reverse build-dependencies of a new version once, level by level, as binNMUs, and nothing unrelated", async () => {
    const cli = await setUp();
    const dscs = await makeDemoSources(test!.dir, [...CHAIN, UNRELATED]);
    expect((await cli("edit-tag", "dest", "--auto-rebuild", "5")).out).toContain("automatic rebuilds, at most 5 per change");
    expect((await cli("chain-build", "t", ...dscs)).code).toBe(0);
    // what landed so far caused nothing: nothing build-depended on each when it landed
    const before = (await cli("--json", "rebuilds", "dest")).json as RebuildListView;
    expect(before.triggers.map((t) => `${t.name} ${t.outcome}`).sort()).toEqual([
      "chaindemo-app none: nothing build-depends on it",
      "chaindemo-lib none: nothing build-depends on it",
      "chaindemo-mid none: nothing build-depends on it",
      "unrelated-demo none: nothing build-depends on it",
    ]);

    // the dry run of the next library, once it is built (scratch builds have no record, so: as if lib 1.0 landed again)
    const dry = await cli("rebuilds", "dest", "--dry-run", "chaindemo-lib/1.0");
    expect(dry.out.split("\n")).toEqual([
      "chaindemo-lib 1.0 in dest would rebuild 2 packages",
      expect.stringMatching(/^LEVEL\s+SOURCE\s+FROM\s+TO\s+BECAUSE$/),
      expect.stringMatching(/^1\s+chaindemo-mid\s+1\.0\s+1\.0\+b1\s+libchaindemo-dev \(>= 1\.0\) \(chaindemo-lib\)$/),
      expect.stringMatching(/^2\s+chaindemo-app\s+1\.0\s+1\.0\+b1\s+libchaindemo-mid-dev \(chaindemo-mid\)$/),
    ]);
    expect(await builds()).toHaveLength(4); // the dry run queued nothing

    const [lib11] = await makeDemoSources(join(test!.dir, "new"), [LIB_1_1]);
    expect((await cli("build", "t", lib11!, "--wait")).code).toBe(0);
    const settled = await until(
      async () => {
        const list = (await cli("--json", "rebuilds", "dest")).json as RebuildListView;
        const trigger = list.triggers.find((t) => t.version === "1.1");
        return trigger?.rebuilds.every((r) => r.state === "done") ? trigger : undefined;
      },
      60_000,
      "the rebuilds to land",
    );
    expect(settled.outcome).toBe("planned 2");
    expect(settled.rebuilds.map((r) => [r.level, r.source, r.version, r.reason])).toEqual([
      [1, "chaindemo-mid", "1.0+b1", "Rebuild against chaindemo-lib 1.1."],
      [2, "chaindemo-app", "1.0+b1", "Rebuild against chaindemo-lib 1.1 (through chaindemo-mid)."],
    ]);
    const all = await test!.admin.listBuilds();
    const mid = all.find((b) => b.version === "1.0+b1" && b.name === "chaindemo-mid")!;
    const app = all.find((b) => b.version === "1.0+b1" && b.name === "chaindemo-app")!;
    // the application's rebuild was queued only after the middle library's had landed
    expect(app.createdAt).toBeGreaterThanOrEqual(mid.completedAt!);
    const binary = (await test!.admin.getBuild(app.id)).binaries[0]!;
    expect(binary.version).toBe("1.0+b1");
    expect(binary.filename).toBe("chaindemo-app_1.0+b1_amd64.deb");
    expect((await cli("why", `chaindemo-app/1.0+b1`)).out).toContain(
      "an automatic rebuild in tag dest: Rebuild against chaindemo-lib 1.1 (through chaindemo-mid).",
    );

    const page = await (await test!.anonymous.raw("GET", `/builds/${app.id}`)).text();
    expect(page).toContain("Rebuild against chaindemo-lib 1.1 (through chaindemo-mid).");
    // once per change: the rebuilds landing caused nothing more, and regenerating the repository again neither
    const repo = (await cli("--json", "regen-repo", "dest")).json as { task: number };
    await until(async () => (await test!.admin.getTask(repo.task)).state === "closed", 30_000, "the regeneration");
    const listed = await builds();
    // the chain's first level (lib and the unrelated source) was built in parallel: either may be first
    expect([...listed.slice(0, 4)].sort()).toEqual([
      "chaindemo-app 1.0 complete",
      "chaindemo-lib 1.0 complete",
      "chaindemo-mid 1.0 complete",
      "unrelated-demo 1.0 complete",
    ]);
    expect(listed.slice(4)).toEqual(["chaindemo-lib 1.1 complete", "chaindemo-mid 1.0+b1 complete", "chaindemo-app 1.0+b1 complete"]);
    const after = (await cli("--json", "rebuilds", "dest")).json as RebuildListView;
    expect(after.triggers.filter((t) => t.version === "1.0+b1").map((t) => t.outcome)).toEqual([
      "none: an automatic rebuild",
      "none: an automatic rebuild",
    ]);
    // the next change gets the next binNMU number
    const next = (await cli("--json", "rebuilds", "dest", "--dry-run", "chaindemo-lib/1.1")).json as RebuildPlanView;
    expect(next.rebuilds.map((r) => `${r.source} ${r.baseVersion} -> ${r.version}`)).toEqual([
      "chaindemo-mid 1.0+b1 -> 1.0+b2",
      "chaindemo-app 1.0+b1 -> 1.0+b2",
    ]);
  });

  it("refuses a binNMU whose reason would forge changelog lines before anything is built", async () => {
    await setUp();
    const [lib] = await makeDemoSources(test!.dir, CHAIN);
    const files: { name: string; sha256: string; size: number }[] = [];
    for (const file of await dscFilePaths(lib!)) files.push(await test!.admin.uploadFile(file));
    const submit = (reason: string) =>
      test!.admin.submitBuild({ target: "t", dsc: basename(lib!), files, binnmu: { number: 1, reason } }).catch((e: unknown) => e);
    const refused = await submit("Rebuild.\n\n -- Mallory <m@evil.example>  Thu, 01 Jan 2026 00:00:00 +0000");
    expect(isCodedError(refused, "BINNMU_INVALID")).toBe(true);
    expect(await test!.admin.listTasks()).toEqual([]);
    const { task } = (await submit("Rebuild against something.")) as { task: number };
    await until(async () => (await test!.admin.getTask(task)).state === "closed", 30_000, "the binNMU");
    expect((await test!.admin.listBuilds()).map((b) => `${b.name} ${b.version}`)).toEqual(["chaindemo-lib 1.0+b1"]);
  });

  it("queues nothing when a change needs more rebuilds than the cap, and nothing on a tag without the option", async () => {
    const cli = await setUp();
    const dscs = await makeDemoSources(test!.dir, CHAIN);
    expect((await cli("chain-build", "t", ...dscs)).code).toBe(0);
    const [lib11] = await makeDemoSources(join(test!.dir, "new"), [LIB_1_1]);
    // off: the dry run still answers, and says so
    expect((await cli("rebuilds", "dest", "--dry-run", "chaindemo-lib/1.0")).out.split("\n")[0]).toBe(
      "chaindemo-lib 1.0 in dest would rebuild 2 packages (automatic rebuilds are off for this tag)",
    );
    expect((await cli("edit-tag", "dest", "--auto-rebuild", "1")).code).toBe(0);
    expect((await cli("build", "t", lib11!, "--wait")).code).toBe(0);
    const list = await until(
      async () => ((await cli("--json", "rebuilds", "dest")).json as RebuildListView).triggers.find((t) => t.version === "1.1"),
      30_000,
      "the change to be looked at",
    );
    expect(list.outcome).toBe("over cap: 2 rebuilds needed, the tag allows 1");
    expect(list.rebuilds).toEqual([]);
    // switched on after the chain landed: those builds were never triggers
    expect(((await cli("--json", "rebuilds", "dest")).json as RebuildListView).triggers.map((t) => t.name)).toEqual(["chaindemo-lib"]);
    expect(await builds()).toHaveLength(4);
    expect((await cli("edit-tag", "dest", "--auto-rebuild", "many")).code).toBe(2);
  });
});
