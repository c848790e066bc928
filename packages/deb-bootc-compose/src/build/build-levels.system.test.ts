import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { composeBuildOnly, writeChainDefinition } from "./__fixtures__/chain-compose.js";
import { OrchestratorConnection } from "./orchestrator-connection.js";

/**
 * The compose's build section builds level by level, as chain-build does: the three demo sources that
 * build-depend on each other's binaries (lib, then mid, then app), given in the wrong order, are built
 * by an embedded hub and a builder that really builds (deb-mock, trixie), each once, each after the one
 * it needs is built and tagged, and the phase ends with one summary. Only the build phase runs. One tag
 * is the target's build and destination tag, so each build sees what landed before it. Needs root and
 * the mirror.
 */

let dir = "";
let defPath = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "compose-build-levels-"));
  defPath = await writeChainDefinition(dir, { oneTag: true, wrongOrder: true });
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the compose's build section, level by level (embedded hub, deb-mock)", () => {
  it("builds a chain given in the wrong order, each source once, in dependency order, and ends with one summary", async () => {
    const orchestrator = new OrchestratorConnection({ dataDir: join(dir, "orchestrator"), upUrl: "none", capacity: 2, env: {} });
    try {
      const { loaded, events, outcome } = await composeBuildOnly(dir, defPath, orchestrator);
      if ("error" in outcome) throw outcome.error;
      const result = outcome;
      expect(result.status).toBe("FINISHED");

      // submitted one after another in dependency order, none before the one it needs was built
      const submitted = events.flatMap((e) => (e.kind === "source" && e.action === "submitted" ? [e.name] : []));
      expect(submitted).toEqual(["chaindemo-lib", "chaindemo-mid", "chaindemo-app"]);
      const hub = await orchestrator.open(loaded.definition, loaded.baseDir);
      const builds = (await hub.client.listBuilds()).sort((a, b) => a.id - b.id);
      expect(builds.map((b) => `${b.name} ${b.version} ${b.state}`)).toEqual([
        "chaindemo-lib 1.0 complete",
        "chaindemo-mid 1.0 complete",
        "chaindemo-app 1.0 complete",
      ]);
      for (let i = 1; i < builds.length; i++) expect(builds[i]!.createdAt).toBeGreaterThanOrEqual(builds[i - 1]!.completedAt!);
      // each once: one build task per source
      expect(await hub.client.listTasks({ method: "build" })).toHaveLength(3);
      // each built against the one before it (deb-mock installed it from the tag's repository)
      const installed = async (ref: string) =>
        new Map((await hub.client.getBuild(ref)).buildroots.flatMap((r) => r.installed.map((p) => [p.name, p.version] as const)));
      expect((await installed("chaindemo-mid/1.0")).get("libchaindemo-dev")).toBe("1.0");
      expect((await installed("chaindemo-app/1.0")).get("libchaindemo-mid-dev")).toBe("1.0");

      // one summary, with the phase's end and in its log
      const notes = events.flatMap((e) => (e.kind === "note" && e.phase === "build" ? [e.text] : []));
      expect(notes).toEqual([
        expect.stringMatching(/^level 1: chaindemo-lib 1\.0 built, build \d+, task \d+$/),
        expect.stringMatching(/^level 2: chaindemo-mid 1\.0 built, build \d+, task \d+$/),
        expect.stringMatching(/^level 3: chaindemo-app 1\.0 built, build \d+, task \d+$/),
      ]);
      const phases = JSON.parse(await readFile(join(result.composeDir, "logs", "phases.json"), "utf8")) as unknown;
      expect(JSON.stringify(phases)).toContain("level 3: chaindemo-app 1.0 built");
    } finally {
      await orchestrator.close();
    }
  });
});
