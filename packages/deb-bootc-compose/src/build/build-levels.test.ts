import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { NoopBuildRunner } from "@debian-bootc/deb-orchestrator/local";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { composeBuildOnly, writeChainDefinition } from "./__fixtures__/chain-compose.js";
import { OrchestratorConnection } from "./orchestrator-connection.js";

/**
 * The build section's levels need each level's builds visible to the next: with the default layout (the
 * destination tag inherits the build tag, not the other way), a chain would wait for ever, so the phase
 * refuses it before submitting anything (embedded hub, no-op builder; no root, no network).
 */
describe("the build section's levels and the target's tags", () => {
  const dir = useTempDir("compose-build-levels-");

  it("refuses sources that build-depend on each other when the build tag does not see the destination tag", async () => {
    const defPath = await writeChainDefinition(dir(), { oneTag: false, wrongOrder: false });
    const orchestrator = new OrchestratorConnection({
      dataDir: join(dir(), "orchestrator"),
      upUrl: "none",
      runner: new NoopBuildRunner(),
      capacity: 1,
      env: {},
    });
    try {
      const { loaded, events, outcome } = await composeBuildOnly(dir(), defPath, orchestrator);
      const error = "error" in outcome ? outcome.error : outcome;
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
