import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, runCli } from "@debian-bootc/core";
import { defaultMirror } from "@debian-bootc/debian";
import { afterAll, describe, expect, it } from "vitest";
import { type RunningHub, startHub } from "./hub/hub.js";
import { CHAIN, makeDemoSource, makeDemoSources, STAMP_DIR } from "./testing/dependent-sources.js";
import { RawHubClient } from "./testing/raw-hub-client.js";
import { useRealHub } from "./testing/real-hub.js";
import { sourceFiles } from "./testing/real-source.js";
import { submitBuild, until, waitForTask } from "./testing/test-builds.js";
import { tool } from "./tool.js";

/**
 * Dep-wait for real: a hub (SQLite) whose tag `demo` builds on Debian trixie from the host's mirror (an
 * external repository), one builder running deb-mock, and the demo chain chaindemo-lib → chaindemo-mid →
 * chaindemo-app submitted in the wrong order. The application waits without a builder, `why` says what it
 * waits for in one line, and it builds by itself, against the middle library built meanwhile, once that
 * lands. Needs root, the mirror and deb-mock's trixie base (built on first use).
 */
describe("dep-wait", () => {
  const startRealHub = useRealHub("dep-wait");

  it(
    "holds a build whose build-dependencies no repository has, says why, and builds it once they land",
    async () => {
      // the index cache the other tools and the benchmark share: trixie's index is downloaded once per Release
      const { dir, hub, admin } = await startRealHub({ hub: { indexCacheDir: "/var/cache/debian-bootc" } });
      const [libDsc, midDsc, appDsc] = await makeDemoSources(join(dir, "src"), CHAIN);
      await admin.createExternalRepo({ name: "debian", url: await defaultMirror(), suite: "trixie" });
      await admin.createTag("demo", { arches: ["amd64"], externalRepos: ["debian"] });
      await admin.createTarget({ name: "demo", buildTag: "demo", destTag: "demo" });

      const sourceOf = async (dsc: string) => ({ dsc, files: await sourceFiles(dsc) });
      const archTask = async (buildTask: number) =>
        until(
          async () => (await admin.getTask(buildTask)).children.find((c) => c.method === "buildArch"),
          120_000,
          `buildArch of ${buildTask}`,
        );
      const why = async (buildTask: number) => (await admin.whyTask(buildTask)).reason;

      // the application alone: nothing provides libchaindemo-mid-dev, and nothing pending will
      const appTask = await submitBuild(admin, "demo", await sourceOf(appDsc!));
      const appArch = await archTask(appTask);
      expect(appArch.state).toBe("dep-wait");
      expect(await why(appTask)).toBe(
        "waiting: libchaindemo-mid-dev is not in tag demo or debian/trixie, and no pending build produces it",
      );
      expect((await admin.listTasks({ state: ["dep-wait"] })).map((t) => t.id)).toEqual([appArch.id]);
      // the same line from the CLI (by NAME/VERSION) and on the web UI's build page
      const tokenFile = join(dir, "admin.token");
      await writeFile(tokenFile, (await readFile(hub.adminTokenFile, "utf8")).trim());
      const out: string[] = [];
      const cliOutput = { isTTY: false, line: (t: string) => out.push(t), json: () => {}, warn: () => {}, error: () => {} };
      expect(await runCli(tool, ["--hub", hub.url, "--token-file", tokenFile, "why", "chaindemo-app/1.0"], cliOutput)).toBe(0);
      const appBuildId = (await admin.getTask(appTask)).build;
      // asked by NAME/VERSION, the CLI names the build it found first
      expect(out.join("\n")).toBe(
        `build ${appBuildId} (chaindemo-app 1.0): waiting: libchaindemo-mid-dev is not in tag demo or debian/trixie, and no pending build produces it`,
      );
      const page = await (await admin.raw("GET", `/builds/${appBuildId}`)).text();
      expect(page).toContain(
        "<strong>Why:</strong> waiting: libchaindemo-mid-dev is not in tag demo or debian/trixie, and no pending build produces it",
      );

      // the middle library: it waits for chaindemo-lib itself, and the application now waits for it
      const midTask = await submitBuild(admin, "demo", await sourceOf(midDsc!));
      const midArch = await archTask(midTask);
      expect(midArch.state).toBe("dep-wait");
      const midBuild = (await admin.getTask(midTask)).build;
      expect(await why(midTask)).toBe(
        "waiting: libchaindemo-dev (>= 1.0) is not in tag demo or debian/trixie, and no pending build produces it",
      );
      expect(await why(appTask)).toBe(`waiting for build ${midBuild} (chaindemo-mid 1.0), which produces libchaindemo-mid-dev 1.0`);
      const midWhyBeforeLib = (await admin.whyTask(midArch.id)).details as { unsatisfied: { relation: string }[] };
      expect(midWhyBeforeLib.unsatisfied.map((u) => u.relation)).toEqual(["libchaindemo-dev (>= 1.0)"]);
      // a target whose build tag inherits demo (the Koji layout): its repository is regenerated for it
      await admin.createTag("app-build", { arches: ["amd64"], parents: ["demo"] });
      await admin.createTarget({ name: "app", buildTag: "app-build", destTag: "demo" });
      const app11Dsc = await makeDemoSource(join(dir, "src-1.1"), { ...CHAIN[2]!, version: "1.1" });
      const app11Task = await submitBuild(admin, "app", await sourceOf(app11Dsc));
      const app11Arch = await archTask(app11Task);
      expect(app11Arch.state).toBe("dep-wait");
      expect(await why(app11Task)).toBe(`waiting for build ${midBuild} (chaindemo-mid 1.0), which produces libchaindemo-mid-dev 1.0`);

      // no held task went to the builder
      for (const held of [appArch.id, midArch.id, app11Arch.id]) {
        const task = await admin.getTask(held);
        expect(task).toMatchObject({ state: "dep-wait", host: null, startedAt: null, attempts: 0 });
      }

      // the library builds at once; its repository releases the middle library, whose repository releases the application
      const libTask = await submitBuild(admin, "demo", await sourceOf(libDsc!));
      for (const [task, name] of [
        [libTask, "chaindemo-lib"],
        [midTask, "chaindemo-mid"],
        [appTask, "chaindemo-app"],
        [app11Task, "chaindemo-app 1.1"],
      ] as const) {
        const done = await waitForTask(admin, task, 30 * 60_000);
        if (done.state !== "closed") throw new Error(`${name}: task ${task} ${done.state}: ${await why(task)}`);
      }

      // each buildArch ran once on the builder, and the held ones only after their release
      const heldIds = [appArch.id, midArch.id, app11Arch.id];
      for (const held of [...heldIds, (await archTask(libTask)).id]) {
        const task = await admin.getTask(held);
        const states = task.history.filter((h) => h.kind === "task.state").map((h) => (h as { state?: string }).state);
        expect(states.filter((s) => s === "assigned")).toHaveLength(1);
        expect(task.attempts).toBe(0);
        if (!heldIds.includes(held)) continue;
        const release = task.history.findIndex(
          (h) => h.kind === "task.state" && (h as { reason?: string }).reason === "dependencies-satisfiable",
        );
        const assigned = task.history.findIndex((h) => h.kind === "task.state" && (h as { state?: string }).state === "assigned");
        expect(release).toBeGreaterThanOrEqual(0);
        expect(assigned).toBeGreaterThan(release);
      }

      // the application was built against the middle library the hub built meanwhile
      const app = await admin.getBuild("chaindemo-app/1.0");
      const deb = app.binaries.find((b) => b.name === "chaindemo-app")!;
      const debPath = join(dir, deb.filename);
      await admin.downloadArtifact(deb.sha256, debPath);
      const { stdout } = await run("sh", [
        "-c",
        'dpkg-deb --fsys-tarfile "$1" | tar -xO "$2"',
        "sh",
        debPath,
        `.${STAMP_DIR}/chaindemo-app.built-with`,
      ]);
      // the stamps of what was installed (the installed packages' own .built-with files repeat some)
      expect([...new Set(stdout.split("\n").filter(Boolean))].sort()).toEqual([
        "libchaindemo-dev 1.0",
        "libchaindemo-mid-dev 1.0",
        "libchaindemo1 1.0",
      ]);
      expect(await why(appTask)).toBe(`task ${appTask} (build) completed.`);
      // app-build's repository was regenerated by the hub (it inherits the library and the middle one)
      expect((await admin.getTag("app-build")).repo).not.toBeNull();
    },
    40 * 60_000,
  );
});

/**
 * The main job's layout: a tag with no external repository, building on the suite of deb-mock's profile
 * (debian-trixie-amd64, the host's mirror). The hub checks against that base, as the builder's apt will
 * see it, so the application submitted alone waits without a builder there too. Needs the mirror only.
 */
describe("dep-wait on deb-mock's base (a tag without external repositories)", () => {
  let hub: RunningHub | undefined;
  let dir = "";
  afterAll(async () => {
    await hub?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    "holds the application submitted alone and names the tag and debian/trixie",
    async () => {
      dir = await mkdtemp(join(tmpdir(), "deb-orchestrator-dep-wait-base-"));
      const [libDsc, , appDsc] = await makeDemoSources(join(dir, "src"), CHAIN);
      hub = await startHub({ db: `sqlite:${join(dir, "hub.db")}`, dataDir: join(dir, "data"), indexCacheDir: "/var/cache/debian-bootc" });
      const admin = new RawHubClient({ url: hub.url, token: (await readFile(hub.adminTokenFile, "utf8")).trim() });
      await admin.createTag("demo", { arches: ["amd64"] });
      await admin.createTarget({ name: "demo", buildTag: "demo", destTag: "demo" });
      const archOf = (task: number) =>
        until(async () => (await admin.getTask(task)).children.find((c) => c.method === "buildArch"), 120_000, "the buildArch");
      const appTask = await submitBuild(admin, "demo", { dsc: appDsc!, files: await sourceFiles(appDsc!) });
      expect((await archOf(appTask)).state).toBe("dep-wait");
      expect((await admin.whyTask(appTask)).reason).toBe(
        "waiting: libchaindemo-mid-dev is not in tag demo or debian/trixie, and no pending build produces it",
      );
      // the library needs only build-essential, which trixie has: not held (no builder runs here)
      const libTask = await submitBuild(admin, "demo", { dsc: libDsc!, files: await sourceFiles(libDsc!) });
      expect((await archOf(libTask)).state).toBe("free");
    },
    10 * 60_000,
  );
});
