import { writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
// test support of deb-orchestrator (not shipped): the demo sources its own batch tests build
import { CHAIN, makeDemoSources } from "../../../../deb-orchestrator/src/testing/dependent-sources.js";
import { type ComposeEvent, ComposeEvents } from "../../compose/compose-events.js";
import { runCompose } from "../../compose/phase-engine.js";
import { composePhases } from "../../compose/registry.js";
import { loadDefinition } from "../../definition.js";
import type { OrchestratorConnection } from "../orchestrator-connection.js";

/**
 * A definition in DIR/def whose build section holds the demo chain (lib → mid → app), in that order or,
 * with `wrongOrder`, the application first. `oneTag`: the target builds in and lands into tag `chain`, so
 * each level sees the one before it; otherwise the default layout (build tag chain-build, destination
 * tag chain).
 */
export async function writeChainDefinition(dir: string, options: { oneTag: boolean; wrongOrder: boolean }): Promise<string> {
  const defDir = join(dir, "def");
  const dscs = await makeDemoSources(defDir, CHAIN);
  const path = join(defDir, "chain.yaml");
  await writeFile(
    path,
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
      ...(options.oneTag ? ["  buildTag: chain", "  destTag: chain"] : []),
      "  sources:",
      ...(options.wrongOrder ? dscs.toReversed() : dscs).map((dsc) => `    - dsc: ${relative(defDir, dsc)}`),
      "",
    ].join("\n"),
  );
  return path;
}

/** The compose of that definition with its build phase only; the events it sent, and how it ended (a result or the error). */
export async function composeBuildOnly(dir: string, defPath: string, orchestrator: OrchestratorConnection) {
  const loaded = await loadDefinition(defPath);
  const events: ComposeEvent[] = [];
  const stream = new ComposeEvents();
  stream.subscribe((e) => events.push(e));
  const outcome = await runCompose({
    events: stream,
    definition: loaded.definition,
    definitionPath: defPath,
    outputDir: join(dir, "out"),
    justPhases: ["build"],
    phases: composePhases({ baseDir: loaded.baseDir, cacheDir: join(dir, "cache"), orchestrator }),
  }).catch((error: unknown) => ({ error }));
  return { loaded, events, outcome };
}
