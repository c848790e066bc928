import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// test support of deb-orchestrator (not shipped): the demo sources its own batch tests build
import { CHAIN, makeDemoSources } from "../../../deb-orchestrator/src/testing/dependent-sources.js";
import { type ComposeEvent, ComposeEvents } from "../compose/compose-events.js";
import { runCompose } from "../compose/phase-engine.js";
import { composePhases } from "../compose/registry.js";
import { loadDefinition } from "../definition.js";
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
  const dscs = await makeDemoSources(join(dir, "def"), CHAIN);
  defPath = join(dir, "def", "chain.yaml");
  await writeFile(
    defPath,
    [
      "name: chain",
      'version: "1"',
      "repositories:",
      "  - type: orchestrator",
      "    tag: chain",
      "baseline: none",
      "bootloader: none",
      "kernel: { package: chaindemo-app }",
      "packages: [chaindemo-app]",
      "outputs: [oci]",
      "build:",
      "  target: chain",
      "  buildTag: chain",
      "  destTag: chain",
      "  sources:",
      // the wrong order: the application first, the library it needs (through mid) last
      ...[2, 1, 0].map((i) => `    - dsc: ${relative(join(dir, "def"), dscs[i]!)}`),
      "",
    ].join("\n"),
  );
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the compose's build section, level by level (embedded hub, deb-mock)", () => {
  it("builds a chain given in the wrong order, each source once, in dependency order, and ends with one summary", async () => {
    const loaded = await loadDefinition(defPath);
    const orchestrator = new OrchestratorConnection({ dataDir: join(dir, "orchestrator"), upUrl: "none", capacity: 2, env: {} });
    const events: ComposeEvent[] = [];
    try {
      const stream = new ComposeEvents();
      stream.subscribe((e) => events.push(e));
      const result = await runCompose({
        events: stream,
        definition: loaded.definition,
        definitionPath: defPath,
        outputDir: join(dir, "out"),
        justPhases: ["build"],
        phases: composePhases({ baseDir: loaded.baseDir, cacheDir: join(dir, "cache"), orchestrator }),
      });
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
