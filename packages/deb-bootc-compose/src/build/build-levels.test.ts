import { writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { NoopBuildRunner } from "@debian-bootc/deb-orchestrator/local";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
// test support of deb-orchestrator (not shipped): the demo sources its own batch tests build
import { CHAIN, makeDemoSources } from "../../../deb-orchestrator/src/testing/dependent-sources.js";
import { type ComposeEvent, ComposeEvents } from "../compose/compose-events.js";
import { runCompose } from "../compose/phase-engine.js";
import { composePhases } from "../compose/registry.js";
import { loadDefinition } from "../definition.js";
import { OrchestratorConnection } from "./orchestrator-connection.js";

/**
 * The build section's levels need each level's builds visible to the next: with the default layout (the
 * destination tag inherits the build tag, not the other way), a chain would wait for ever, so the phase
 * refuses it before submitting anything (embedded hub, no-op builder; no root, no network).
 */
describe("the build section's levels and the target's tags", () => {
  const dir = useTempDir("compose-build-levels-");

  it("refuses sources that build-depend on each other when the build tag does not see the destination tag", async () => {
    const dscs = await makeDemoSources(join(dir(), "def"), CHAIN);
    const defPath = join(dir(), "def", "chain.yaml");
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
        "  sources:",
        ...dscs.map((d) => `    - dsc: ${relative(join(dir(), "def"), d)}`),
        "",
      ].join("\n"),
    );
    const loaded = await loadDefinition(defPath);
    const orchestrator = new OrchestratorConnection({
      dataDir: join(dir(), "orchestrator"),
      upUrl: "none",
      runner: new NoopBuildRunner(),
      capacity: 1,
      env: {},
    });
    const events: ComposeEvent[] = [];
    try {
      const stream = new ComposeEvents();
      stream.subscribe((e) => events.push(e));
      const error = await runCompose({
        events: stream,
        definition: loaded.definition,
        definitionPath: defPath,
        outputDir: join(dir(), "out"),
        justPhases: ["build"],
        phases: composePhases({ baseDir: loaded.baseDir, cacheDir: join(dir(), "cache"), orchestrator }),
      }).catch((e: unknown) => e);
      expect(isCodedError(error, "COMPOSE_PHASE_FAILED")).toBe(true);
      expect((error as Error).cause).toMatchObject({
        code: "BUILD_TAG_UNSEEN",
        message:
          "build.sources[1] chaindemo-mid, build.sources[2] chaindemo-app build-depend on binaries of chaindemo-lib, but build tag chain-build (inheritance: chain-build) does not see destination tag chain, where those builds land",
      });
      expect(events.some((e) => e.kind === "source")).toBe(false);
      const hub = await orchestrator.open(loaded.definition, loaded.baseDir);
      expect(await hub.client.listTasks({ method: "build" })).toEqual([]);
    } finally {
      await orchestrator.close();
    }
  });
});
