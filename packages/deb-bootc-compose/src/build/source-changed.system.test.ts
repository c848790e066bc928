import { chmod, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ComposeEvent, ComposeEvents } from "../compose/compose-events.js";
import { runCompose } from "../compose/phase-engine.js";
import { composePhases } from "../compose/registry.js";
import { loadDefinition } from "../definition.js";
import { OrchestratorConnection } from "./orchestrator-connection.js";

/**
 * The hub keeps one build per source and version, as Koji keeps one per NVR. With an embedded hub and a
 * builder that really builds (deb-mock, trixie), a tiny native tree is built; the same version with a
 * changed file is refused with BUILD_SOURCE_CHANGED (naming the source, the version, the build and the
 * file), nothing is submitted; the unchanged tree, checked out anew (other times and permissions), is
 * reused without a new task. Needs root and the mirror.
 */

let dir = "";
let defPath = "";
const tree = () => join(dir, "def", "tiny");

async function write(path: string, text: string, mode = 0o644): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, text);
  await chmod(path, mode);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "source-changed-"));
  const t = tree();
  await write(join(t, "greeting"), "hello from a tiny native package\n");
  await write(join(t, "debian", "source", "format"), "3.0 (native)\n");
  await write(
    join(t, "debian", "changelog"),
    "compose-tiny (1.0) trixie; urgency=medium\n\n  * A tree for the source check.\n\n -- T <t@localhost>  Thu, 26 Nov 2026 12:00:00 +0000\n",
  );
  await write(
    join(t, "debian", "control"),
    [
      "Source: compose-tiny",
      "Maintainer: T <t@localhost>",
      "Rules-Requires-Root: no",
      "",
      "Package: compose-tiny",
      "Architecture: all",
      "Description: a tiny package",
      " Built to see that a changed tree under the same version is refused.",
      "",
    ].join("\n"),
  );
  // no debhelper: the build needs only build-essential, so the test spends its time on the check
  await write(
    join(t, "debian", "rules"),
    [
      "#!/usr/bin/make -f",
      "build build-arch build-indep binary-arch:",
      "binary binary-indep:",
      "\tinstall -D -m 0644 greeting debian/tmp/usr/share/compose-tiny/greeting",
      "\tinstall -d debian/tmp/DEBIAN",
      "\tdpkg-gencontrol -pcompose-tiny -Pdebian/tmp",
      "\tdpkg-deb --root-owner-group --build debian/tmp ..",
      "clean:",
      "\trm -rf debian/tmp debian/files",
      "",
    ].join("\n"),
    0o755,
  );
  defPath = join(dir, "def", "tiny.yaml");
  await writeFile(
    defPath,
    [
      "name: tiny",
      'version: "1"',
      "repositories:",
      "  - type: orchestrator",
      "    tag: tiny-dest",
      "baseline: none",
      "bootloader: none",
      "kernel: { package: compose-tiny }",
      "packages: [compose-tiny]",
      "outputs: [oci]",
      "build:",
      "  target: tiny",
      "  destTag: tiny-dest",
      "  sources:",
      "    - path: tiny",
      "",
    ].join("\n"),
  );
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const connection = () => new OrchestratorConnection({ dataDir: join(dir, "orchestrator"), upUrl: "none", capacity: 1, env: {} });

async function buildPhase(events: ComposeEvent[]) {
  const loaded = await loadDefinition(defPath);
  const orchestrator = connection();
  try {
    const stream = new ComposeEvents();
    stream.subscribe((e) => events.push(e));
    return await runCompose({
      events: stream,
      definition: loaded.definition,
      definitionPath: defPath,
      outputDir: join(dir, "out"),
      justPhases: ["build"],
      phases: composePhases({
        baseDir: loaded.baseDir,
        cacheDir: join(dir, "cache"),
        orchestrator,
      }),
    });
  } finally {
    await orchestrator.close();
  }
}

/** The hub's build tasks, and what the build's buildroot had installed. */
async function onTheHub(buildId: number): Promise<{ buildTasks: number; installed: string[] }> {
  const look = connection();
  try {
    const hub = await look.open((await loadDefinition(defPath)).definition, dir);
    const build = await hub.client.getBuild(buildId);
    return {
      buildTasks: (await hub.client.listTasks({ method: "build" })).length,
      installed: build.buildroots.flatMap((r) => r.installed.map((p) => p.name)),
    };
  } finally {
    await look.close(0);
  }
}

describe("a changed tree under a version the hub built (embedded hub, deb-mock)", () => {
  it("builds it, refuses the changed tree, reuses the unchanged one", async () => {
    const first: ComposeEvent[] = [];
    const built = await buildPhase(first);
    expect(built.status).toBe("FINISHED");
    expect(first.some((e) => e.kind === "source" && e.action === "submitted")).toBe(true);
    const done = first.find((e) => e.kind === "built");
    expect(done).toMatchObject({ name: "compose-tiny", version: "1.0", reused: false });
    const buildId = done?.kind === "built" ? done.buildId : -1;
    // deb-mock's buildroot (build-essential), not a stand-in
    expect((await onTheHub(buildId)).installed).toContain("dpkg-dev");

    // the same version, one file changed: refused, nothing submitted
    const greeting = join(tree(), "greeting");
    const original = await readFile(greeting, "utf8");
    await writeFile(greeting, "hello, changed without a new changelog entry\n");
    const refused: ComposeEvent[] = [];
    const error = await buildPhase(refused).catch((e: unknown) => e);
    expect(isCodedError(error, "COMPOSE_PHASE_FAILED")).toBe(true);
    // the phase's error: what, which build, which file, and the way out
    expect((error as Error).cause).toMatchObject({
      code: "BUILD_SOURCE_CHANGED",
      message: expect.stringContaining(`compose-tiny 1.0 is not the source the hub built as build ${buildId} (complete)`),
      hint: "add a debian/changelog entry with a new version in tiny (dch -i), or delete the hub's build first (deb-orchestrator delete-build compose-tiny/1.0)",
      details: { source: "compose-tiny", version: "1.0", build: buildId, changes: ["greeting: content changed"] },
    });
    expect(refused.some((e) => e.kind === "source")).toBe(false);
    expect((await onTheHub(buildId)).buildTasks).toBe(1);

    // the original content, as a fresh checkout has it (new times, a group-writable umask): reused
    await writeFile(greeting, original);
    for (const path of [greeting, join(tree(), "debian", "control")]) {
      await chmod(path, 0o664);
      await utimes(path, new Date(), new Date());
    }
    const again: ComposeEvent[] = [];
    const reused = await buildPhase(again);
    expect(reused.status).toBe("FINISHED");
    expect(again.find((e) => e.kind === "source")).toMatchObject({ action: "reused" });
    expect(again.find((e) => e.kind === "built")).toMatchObject({ buildId, reused: true });
    expect((await onTheHub(buildId)).buildTasks).toBe(1);
  });
});
