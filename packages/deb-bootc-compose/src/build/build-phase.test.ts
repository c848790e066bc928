import { chmod, cp, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CodedError, isCodedError } from "@debian-bootc/core";
import { NoopBuildRunner } from "@debian-bootc/deb-orchestrator/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ComposeEvent, ComposeEvents } from "../compose/compose-events.js";
import { runCompose } from "../compose/phase-engine.js";
import { composePhases } from "../compose/registry.js";
import { loadDefinition } from "../definition.js";
import type { PackageRecord } from "../metadata/package-diff.js";
import { OrchestratorConnection } from "./orchestrator-connection.js";

/**
 * The build phase against an embedded hub whose builder uses deb-orchestrator's no-op runner (a real but
 * tiny .deb per source, no deb-mock): the local source tree is packed and built into the target's
 * destination tag, the tag's signed repository is the pkgset phase's only input (verified with the hub's
 * key), the metadata points at the build, a second compose reuses the build (no new task), and a failing
 * build stops the compose with the hub's `why` and the build log's tail. No root, no network.
 */

const branding = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..", "examples", "branding");

let dir = "";
let defPath = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "compose-build-"));
  await cp(branding, join(dir, "def", "branding"), { recursive: true });
  defPath = join(dir, "def", "built.yaml");
  await writeFile(
    defPath,
    [
      "name: built",
      'version: "1"',
      "repositories:",
      "  - type: orchestrator",
      "    tag: demo-dest",
      "baseline: none",
      "bootloader: none",
      "kernel: { package: debian-bootc-branding }",
      "packages: [debian-bootc-branding]",
      "outputs: [oci]",
      "build:",
      "  target: demo",
      "  destTag: demo-dest",
      "  sources:",
      "    - path: branding",
      "",
    ].join("\n"),
  );
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function compose(
  connection: OrchestratorConnection,
  events: ComposeEvent[] = [],
  more: { signal?: AbortSignal; onInterrupt?: "cancel" | "leave" } = {},
) {
  const loaded = await loadDefinition(defPath);
  try {
    const stream = new ComposeEvents();
    stream.subscribe((e) => events.push(e));
    return await runCompose({
      events: stream,
      ...(more.signal ? { signal: more.signal } : {}),
      definition: loaded.definition,
      definitionPath: defPath,
      outputDir: join(dir, "out"),
      justPhases: ["build", "pkgset", "gather", "snapshot-repo", "metadata"],
      phases: composePhases({
        baseDir: loaded.baseDir,
        cacheDir: join(dir, "cache"),
        orchestrator: connection,
        ...(more.onInterrupt ? { onInterrupt: more.onInterrupt } : {}),
      }),
    });
  } finally {
    await connection.close();
  }
}

const embedded = (runner = new NoopBuildRunner()) =>
  new OrchestratorConnection({ dataDir: join(dir, "orchestrator"), upUrl: "none", runner, capacity: 1, env: {} });

describe("build phase (embedded hub, no-op builds)", () => {
  it("builds the local source, reads the tag's signed repository, records the build; a rerun reuses it", async () => {
    const events: ComposeEvent[] = [];
    const first = await compose(embedded(), events);
    expect(first.status).toBe("FINISHED");
    expect(events.find((e) => e.kind === "hub")).toMatchObject({ mode: "embedded" });
    expect(events.some((e) => e.kind === "source" && e.action === "submitted")).toBe(true);
    expect(events.some((e) => e.kind === "task" && e.method === "buildArch" && e.state === "closed")).toBe(true);

    const builds = JSON.parse(await readFile(join(first.composeDir, "compose", "metadata", "builds.json"), "utf8")).payload;
    expect(builds.destTag).toBe("demo-dest");
    expect(builds.builds).toHaveLength(1);
    const build = builds.builds[0];
    expect(build).toMatchObject({ source: "debian-bootc-branding", version: "1.0", kind: "path", reused: false });
    expect(build.arches[0].buildroot).toBeGreaterThan(0);
    expect(build.arches[0].host).toBeTruthy();

    // the package set came from the tag's repository, with the orchestrator's .deb
    const packages = JSON.parse(await readFile(join(first.composeDir, "compose", "metadata", "packages.json"), "utf8")).payload
      .packages as Record<string, Record<string, PackageRecord[]>>;
    const pkg = packages.minimal!.amd64!.find((p) => p.name === "debian-bootc-branding")!;
    expect(pkg.version).toBe("1.0");
    expect(pkg.sha256).toBe(build.binaries.find((b: { name: string }) => b.name === "debian-bootc-branding").sha256);
    expect(pkg.repository).toBe("orchestrator-demo-dest");
    expect(pkg.orchestrator).toMatchObject({
      build: build.buildId,
      task: build.task,
      buildroot: build.arches[0].buildroot,
      tag: "demo-dest",
    });
    const lock = await readFile(join(first.composeDir, "compose", "metadata", "lockfile.json"), "utf8");
    expect(lock).toContain(pkg.sha256);

    // second compose: same source and version, so nothing is submitted
    const again: ComposeEvent[] = [];
    const second = await compose(embedded(), again);
    expect(second.status).toBe("FINISHED");
    expect(again.some((e) => e.kind === "source" && e.action === "reused")).toBe(true);
    expect(again.some((e) => e.kind === "source" && e.action === "submitted")).toBe(false);
    const rebuilt = JSON.parse(await readFile(join(second.composeDir, "compose", "metadata", "builds.json"), "utf8")).payload.builds[0];
    expect(rebuilt).toMatchObject({ buildId: build.buildId, task: build.task, reused: true });
    const look = embedded();
    try {
      const hub = await look.open((await loadDefinition(defPath)).definition, dir);
      const tasks = await hub.client.listTasks({ method: "build" });
      expect(tasks).toHaveLength(1);
    } finally {
      await look.close();
    }
  }, 120_000);

  it("refuses a changed tree under a version the hub built (BUILD_SOURCE_CHANGED); an untouched one, checked out anew, is reused", async () => {
    const motd = join(dir, "def", "branding", "motd", "10-debian-bootc");
    const original = await readFile(motd, "utf8");
    await writeFile(motd, `${original}changed without a new version\n`);
    const error = await compose(embedded()).catch((e: unknown) => e);
    expect(isCodedError(error, "COMPOSE_PHASE_FAILED")).toBe(true);
    const changed = (error as Error).cause as Error & { hint?: string; details?: Record<string, unknown> };
    expect(isCodedError(changed, "BUILD_SOURCE_CHANGED")).toBe(true);
    expect(changed.message).toMatch(
      /^build\.sources\[0\] \(path branding\): debian-bootc-branding 1\.0 is not the source the hub built as build \d+ \(complete\) for that version, .*:\n {2}motd\/10-debian-bootc: content changed$/,
    );
    expect(changed.hint).toBe(
      "add a debian/changelog entry with a new version in branding (dch -i), or delete the hub's build first (deb-orchestrator delete-build debian-bootc-branding/1.0)",
    );
    // the compose's error leads its hint with that remedy
    expect((error as CodedError).hint).toMatch(/^add a debian\/changelog entry .*; the phase's log: /);
    expect(changed.details).toMatchObject({
      source: "debian-bootc-branding",
      version: "1.0",
      changes: ["motd/10-debian-bootc: content changed"],
    });

    // the same content with other times and permissions (a fresh checkout, another umask): reused
    await writeFile(motd, original);
    await chmod(motd, 0o664);
    await utimes(motd, new Date(), new Date());
    const events: ComposeEvent[] = [];
    const again = await compose(embedded(), events);
    expect(again.status).toBe("FINISHED");
    expect(events.some((e) => e.kind === "source" && e.action === "reused")).toBe(true);
    expect(events.some((e) => e.kind === "source" && e.action === "submitted")).toBe(false);
  }, 120_000);

  it("stops the compose with the hub's why and the tail of the build log when a build fails", async () => {
    // a new version, so that the hub has no complete build of it
    const changelog = join(dir, "def", "branding", "debian", "changelog");
    const text = await readFile(changelog, "utf8");
    await writeFile(
      changelog,
      `debian-bootc-branding (1.1) trixie; urgency=medium\n\n  * Test.\n\n -- T <t@localhost>  Thu, 26 Nov 2026 13:00:00 +0000\n\n${text}`,
    );
    await mkdir(join(dir, "out"), { recursive: true });
    let error: unknown;
    try {
      await compose(embedded(new NoopBuildRunner({ failSources: ["debian-bootc-branding"] })));
    } catch (e) {
      error = e;
    }
    expect(isCodedError(error, "COMPOSE_PHASE_FAILED")).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(/phase build failed: build\.sources\[0\] debian-bootc-branding 1\.1: task \d+ \(buildArch, amd64\) failed/);
    expect(message).toContain("--- end of build.log ---");
    expect(message).toContain("pretend failure");
  }, 120_000);

  it.each(["cancel", "leave"] as const)(
    "on Ctrl-C: %s the build still running",
    async (onInterrupt) => {
      const changelog = join(dir, "def", "branding", "debian", "changelog");
      const text = await readFile(changelog, "utf8");
      const version = `2.${onInterrupt.length}`;
      await writeFile(
        changelog,
        `debian-bootc-branding (${version}) trixie; urgency=medium\n\n  * Test.\n\n -- T <t@localhost>  Thu, 26 Nov 2026 14:00:00 +0000\n\n${text}`,
      );
      const controller = new AbortController();
      const events: ComposeEvent[] = [];
      const result = await compose(
        embedded(new NoopBuildRunner({ delayMs: 60_000 })),
        new Proxy(events, {
          get(target, key) {
            if (key === "push")
              return (e: ComposeEvent) => {
                if (e.kind === "task" && e.method === "buildArch" && e.state === "open") controller.abort(new Error("Ctrl-C"));
                return target.push(e);
              };
            return Reflect.get(target, key);
          },
        }),
        { signal: controller.signal, onInterrupt },
      );
      expect(result.status).toBe("TERMINATED");
      const submitted = events.find((e) => e.kind === "source" && e.action === "submitted");
      expect(submitted?.kind === "source" && submitted.task).toBeGreaterThan(0);
      const look = embedded(new NoopBuildRunner({ delayMs: 60_000 }));
      try {
        const hub = await look.open((await loadDefinition(defPath)).definition, dir);
        const task = await hub.client.getTask((submitted as { task: number }).task);
        if (onInterrupt === "cancel") expect(task.state).toBe("canceled");
        else expect(["free", "assigned", "open"]).toContain(task.state); // given back by the stopped builder, or claimed again
        const build = await hub.client.getBuild(`debian-bootc-branding/${version}`);
        expect(build.state).toBe(onInterrupt === "cancel" ? "canceled" : "building");
      } finally {
        await look.close(0);
      }
    },
    120_000,
  );
});
