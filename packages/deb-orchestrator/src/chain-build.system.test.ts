import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { beforeAll, describe, expect, it } from "vitest";
import type { RebuildListView } from "./api/tags.js";
import type { ChainResult } from "./client/chain-build.js";
import type { RunningHub } from "./hub/hub.js";
import { cliAgainst } from "./testing/cli-run.js";
import { CHAIN, CYCLE, type DemoSource, makeDemoSources, STAMP_DIR } from "./testing/dependent-sources.js";
import type { RawHubClient } from "./testing/raw-hub-client.js";
import { useRealHub } from "./testing/real-hub.js";
import { until } from "./testing/test-builds.js";

/**
 * Batches and automatic rebuilds with real builds: a hub (SQLite), a builder building with deb-mock, and
 * the demo sources (a chain of three that build-depend on each other's binaries, a cycle of two, one
 * unrelated source), which build in seconds and stamp each .deb with what it was built against. One tag
 * is the target's build and destination tag, so every build sees what landed before it. Needs root and
 * the mirror (deb-mock's base for trixie).
 */
const UNRELATED: DemoSource = { source: "unrelated-demo", version: "1.0", binaries: [{ name: "unrelated-demo" }] };

describe("chain-build and automatic rebuilds, for real", () => {
  const startRealHub = useRealHub("chain");
  let hub: RunningHub | undefined;
  let dir = "";
  let admin: RawHubClient;
  let tokenFile = "";

  beforeAll(async () => {
    ({ dir, hub, admin } = await startRealHub({ capacity: 2 }));
    tokenFile = join(dir, "admin.token");
    await writeFile(tokenFile, (await readFile(hub.adminTokenFile, "utf8")).trim());
    await admin.createTag("chain", { arches: ["amd64"], autoRebuild: 5 });
    await admin.createTarget({ name: "chain", buildTag: "chain", destTag: "chain" });
  });

  const cli = (...args: string[]) => cliAgainst(hub!.url, tokenFile)(...args);

  /** The stamp file a build's .deb ships: what that package was built against. */
  async function builtWith(ref: string, binary: string): Promise<string> {
    const build = await admin.getBuild(ref);
    const deb = build.binaries.find((b) => b.name === binary);
    if (!deb) throw new Error(`build ${ref} has no ${binary}: ${build.binaries.map((b) => b.name).join(", ")}`);
    const into = join(dir, "extract", `${build.id}-${binary}`);
    await mkdir(into, { recursive: true });
    await admin.downloadArtifact(deb.sha256, join(into, deb.filename));
    await run("dpkg-deb", ["-x", join(into, deb.filename), join(into, "root")], { debianPackage: "dpkg" });
    return readFile(join(into, "root", STAMP_DIR.slice(1), `${binary}.built-with`), "utf8");
  }

  /** What a build's environment had installed, by name. */
  async function installed(ref: string): Promise<Map<string, string>> {
    const build = await admin.getBuild(ref);
    return new Map(build.buildroots.flatMap((r) => r.installed.map((p) => [p.name, p.version] as const)));
  }

  it("builds the chain given in the wrong order, each once, each against the one before it", async () => {
    const dscs = await makeDemoSources(join(dir, "sources"), [...CHAIN, UNRELATED]);
    const chain = await cli("--json", "chain-build", "chain", dscs[2]!, dscs[1]!, dscs[3]!, dscs[0]!);
    const result = chain.json as ChainResult;
    expect(chain.err).toBe("");
    expect(result.levels).toEqual([["unrelated-demo", "chaindemo-lib"], ["chaindemo-mid"], ["chaindemo-app"]]);
    expect(result.entries.map((e) => [e.source, e.outcome, e.state])).toEqual([
      ["unrelated-demo", "built", "complete"],
      ["chaindemo-lib", "built", "complete"],
      ["chaindemo-mid", "built", "complete"],
      ["chaindemo-app", "built", "complete"],
    ]);
    expect(chain.code).toBe(0);
    expect((await admin.listBuilds()).map((b) => `${b.name} ${b.version}`).sort()).toEqual([
      "chaindemo-app 1.0",
      "chaindemo-lib 1.0",
      "chaindemo-mid 1.0",
      "unrelated-demo 1.0",
    ]);
    expect(await builtWith("chaindemo-mid/1.0", "libchaindemo-mid-dev")).toContain("libchaindemo-dev 1.0\n");
    expect(await builtWith("chaindemo-app/1.0", "chaindemo-app")).toContain("libchaindemo-mid-dev 1.0\n");
  });

  it("reports a cycle with the packages in it and submits nothing", async () => {
    const tasks = (await admin.listTasks({ limit: 1000 })).length;
    const dscs = await makeDemoSources(join(dir, "cycle"), CYCLE);
    const cycle = await cli("chain-build", "chain", ...dscs);
    expect(cycle.code).toBe(2);
    expect(cycle.err).toContain("build-dependency cycle: cycledemo-a needs cycledemo-b-dev (built by cycledemo-b)");
    expect((await admin.listTasks({ limit: 1000 })).length).toBe(tasks);
  });

  it("rebuilds the middle library then the application once against a new library, and not the unrelated source", async () => {
    const [lib11] = await makeDemoSources(join(dir, "new"), [{ ...CHAIN[0]!, version: "1.1" }]);
    const dry = (await cli("--json", "rebuilds", "chain", "--dry-run", "chaindemo-lib/1.0")).json as { rebuilds: { source: string }[] };
    expect(dry.rebuilds.map((r) => r.source)).toEqual(["chaindemo-mid", "chaindemo-app"]);
    expect((await cli("build", "chain", lib11!, "--wait")).code).toBe(0);
    const trigger = await until(
      async () => {
        const list = (await cli("--json", "rebuilds", "chain")).json as RebuildListView;
        const t = list.triggers.find((x) => x.name === "chaindemo-lib" && x.version === "1.1");
        if (t?.rebuilds.some((r) => r.state === "failed" || r.state === "blocked")) throw new Error(JSON.stringify(t));
        return t && t.rebuilds.length > 0 && t.rebuilds.every((r) => r.state === "done") ? t : undefined;
      },
      20 * 60_000,
      "the automatic rebuilds to land",
    );
    expect(trigger.rebuilds.map((r) => `${r.level} ${r.source} ${r.version}`)).toEqual([
      "1 chaindemo-mid 1.0+b1",
      "2 chaindemo-app 1.0+b1",
    ]);
    // built against the new library (its stamp), the application against the rebuilt middle library
    expect(await builtWith("chaindemo-mid/1.0+b1", "libchaindemo-mid-dev")).toContain("libchaindemo-dev 1.1\n");
    expect((await installed("chaindemo-mid/1.0+b1")).get("libchaindemo-dev")).toBe("1.1");
    expect((await installed("chaindemo-app/1.0+b1")).get("libchaindemo-mid-dev")).toBe("1.0+b1");
    expect(await builtWith("chaindemo-app/1.0+b1", "chaindemo-app")).toContain("libchaindemo-dev 1.1\n");
    // the binaries carry the binNMU version
    const app = await admin.getBuild("chaindemo-app/1.0+b1");
    expect(app.binaries.map((b) => b.version)).toEqual(["1.0+b1"]);
    // once: nothing else was built, the unrelated source not at all
    expect((await admin.listBuilds()).map((b) => `${b.name} ${b.version}`).sort()).toEqual([
      "chaindemo-app 1.0",
      "chaindemo-app 1.0+b1",
      "chaindemo-lib 1.0",
      "chaindemo-lib 1.1",
      "chaindemo-mid 1.0",
      "chaindemo-mid 1.0+b1",
      "unrelated-demo 1.0",
    ]);
    expect((await cli("why", "chaindemo-app/1.0+b1")).out).toContain(
      "an automatic rebuild in tag chain: Rebuild against chaindemo-lib 1.1 (through chaindemo-mid).",
    );
  });
});
