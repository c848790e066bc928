import { chmod, cp, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { type Output, run, runCli } from "@debian-bootc/core";
import { type BuildState, DPKG_SYSIMAGE_DIR, MARKER_OS_PREFIX, type PackageRecord, tool } from "@debian-bootc/deb-bootc-compose";
import { parseDeb822 } from "@debian-bootc/debian";
import { afterAll, describe, expect, it } from "vitest";
import { type EmbeddedHubClient, lookAtEmbeddedHub } from "./embedded-hub.js";

/**
 * The end-to-end workflow on one machine, through the compose verb, as the README's main job runs it:
 * examples/debian-bootc.yaml builds its branding source tree and trixie's `less` with an embedded
 * deb-orchestrator hub (SQLite) and a local builder running deb-mock, then composes from the destination
 * tag's signed repository plus Debian, through the OCI image, the disk image and a boot under QEMU.
 * Checked: the built packages are in the package set, the lockfile and the snapshot repository with the
 * versions and SHA256s the orchestrator recorded; the metadata points at those builds (build, task,
 * buildroot); the final OCI image has them installed at those versions, with the branding package's
 * os-release, and the disk image boots to a console that greets with the branding's name; a second
 * compose reuses the builds (no new task on the hub).
 * Needs root, the mirror, skopeo/umoci/qemu and several minutes (the boot runs under TCG here).
 */

const examples = new URL("../examples/", import.meta.url).pathname;
// the second compose checks reuse; the disk image and its boot were checked by the first
const secondSkips = ["image-build", "test"];

function capture(): Output & { text: () => string } {
  const lines: string[] = [];
  return {
    isTTY: false,
    line: (t) => lines.push(t),
    json: (v) => lines.push(JSON.stringify(v)),
    warn: (t) => lines.push(t),
    error: (t) => lines.push(t),
    text: () => lines.join("\n"),
  };
}

let dir = "";
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function compose(skipped: readonly string[] = []): Promise<{ code: number; output: string; composeDir: string }> {
  const out = capture();
  const code = await runCli(
    tool,
    [
      "compose",
      join(dir, "def", "debian-bootc.yaml"),
      "--output",
      join(dir, "composes"),
      "--orchestrator-data",
      join(dir, "orchestrator"),
      "--cache-dir",
      join(dir, "cache"),
      ...skipped.flatMap((p) => ["--skip-phase", p]),
    ],
    out,
  );
  const match = /^\s+(\/\S+)$/m.exec(out.text());
  return { code, output: out.text(), composeDir: match?.[1] ?? "" };
}

async function json<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, "utf8")) as T;
}

/** The embedded hub of the test's data directory, opened just to look. */
const withHub = <T>(look: (client: EmbeddedHubClient) => Promise<T>) =>
  lookAtEmbeddedHub(join(dir, "orchestrator"), join(dir, "def", "debian-bootc.yaml"), look);

describe("workflow: compose asks, deb-orchestrator builds with deb-mock, compose ships", () => {
  it("builds the example's sources, composes from the tag's repository, records the builds, and reuses them", async () => {
    dir = await mkdtemp(join(tmpdir(), "workflow-"));
    // the compose's sandbox root (an unprivileged id of the range) must be able to enter it
    await chmod(dir, 0o755);
    await cp(join(examples, "debian-bootc.yaml"), join(dir, "def", "debian-bootc.yaml"));
    await cp(join(examples, "branding"), join(dir, "def", "branding"), { recursive: true });

    const first = await compose();
    expect(first.code, first.output).toBe(0);
    expect(first.output).toMatch(/embedded hub and builder/);
    expect(first.output).toMatch(/debian-bootc-branding 1\.0: submitted/);
    expect(first.output).toMatch(/less \S+: submitted/);
    expect((await readFile(join(first.composeDir, "STATUS"), "utf8")).trim()).toBe("FINISHED");

    const meta = join(first.composeDir, "compose", "metadata");
    const builds = (await json<{ payload: Omit<BuildState, "repository"> & { repository: { url: string } } }>(join(meta, "builds.json")))
      .payload;
    expect(builds.builds.map((b) => b.source).sort()).toEqual(["debian-bootc-branding", "less"]);
    expect(builds.builds.every((b) => !b.reused)).toBe(true);
    const packages = (await json<{ payload: { packages: Record<string, Record<string, PackageRecord[]>> } }>(join(meta, "packages.json")))
      .payload.packages.minimal!.amd64!;
    const lockfile = await readFile(join(meta, "lockfile.json"), "utf8");
    const snapshotPackages = (await run("sh", ["-c", 'cat "$1"/compose/repo/dists/*/main/binary-amd64/Packages', "sh", first.composeDir]))
      .stdout;

    for (const name of ["debian-bootc-branding", "less"]) {
      const build = builds.builds.find((b) => b.binaries.some((bin) => bin.name === name))!;
      const binary = build.binaries.find((b) => b.name === name)!;
      const pkg = packages.find((p) => p.name === name)!;
      // the version and the very file the orchestrator recorded, from the tag's repository
      expect(pkg.version).toBe(binary.version);
      expect(pkg.sha256).toBe(binary.sha256);
      expect(pkg.repository).toBe(`orchestrator-${builds.destTag}`);
      expect(lockfile).toContain(binary.sha256);
      expect(snapshotPackages).toContain(`SHA256: ${binary.sha256}`);
      // and the metadata points at the build that made it
      expect(pkg.orchestrator).toMatchObject({
        build: build.buildId,
        task: build.task,
        buildArchTask: build.arches[0]!.task,
        buildroot: build.arches[0]!.buildroot,
        tag: builds.destTag,
      });
    }
    // the hub agrees: complete builds in the destination tag with those files and buildroots
    await withHub(async (client) => {
      for (const build of builds.builds) {
        const info = await client.getBuild(build.buildId);
        expect(info.state).toBe("complete");
        expect(info.tags).toContain(builds.destTag);
        expect(info.binaries.map((b) => b.sha256).sort()).toEqual(build.binaries.map((b) => b.sha256).sort());
        expect(info.buildroots.map((r) => r.id)).toContain(build.arches[0]!.buildroot);
        expect(info.buildroots[0]!.installed.map((p) => p.name)).toContain("dpkg-dev");
      }
      // the embedded hub recorded the compose (its build phase connected): FINISHED, with its images and
      // the packages it built linked to their builds
      const recorded = await client.getCompose(basename(first.composeDir));
      expect(recorded.status).toBe("FINISHED");
      expect(recorded.phases.filter((p) => p.status === "done").map((p) => p.name)).toEqual(
        expect.arrayContaining(["init", "build", "rootfs", "oci", "metadata"]),
      );
      expect(recorded.images.find((i) => i.kind === "oci" && i.variant === "minimal")?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      for (const build of builds.builds)
        for (const binary of build.binaries.filter((b) => packages.some((p) => p.name === b.name)))
          expect(recorded.packages.find((p) => p.variant === "minimal" && p.name === binary.name)?.build, binary.name).toBe(build.buildId);
    });
    // the branding package carries the image's os-release
    const brandingDeb = packages.find((p) => p.name === "debian-bootc-branding")!;
    const listing = (await run("dpkg-deb", ["-c", join(first.composeDir, "compose", "repo", brandingDeb.filename)])).stdout;
    expect(listing).toMatch(/\.\/usr\/lib\/os-release$/m);

    // the final image: the OCI image has both built packages installed at the versions the orchestrator
    // recorded, and the branding package's os-release
    const bundle = join(dir, "unpacked");
    await run("umoci", ["unpack", "--image", `${join(first.composeDir, "compose", "minimal", "amd64", "oci")}:13.0`, bundle], {
      debianPackage: "umoci",
    });
    const installed = new Map(
      parseDeb822(await readFile(join(bundle, "rootfs", DPKG_SYSIMAGE_DIR, "status"), "utf8"))
        .filter((p) => p.get("Status") === "install ok installed")
        .map((p) => [p.get("Package"), p.get("Version")]),
    );
    for (const build of builds.builds)
      for (const binary of build.binaries.filter((b) => packages.some((p) => p.name === b.name)))
        expect(installed.get(binary.name), binary.name).toBe(binary.version);
    const osRelease = await readFile(join(examples, "branding", "os-release"), "utf8");
    expect(await readFile(join(bundle, "rootfs", "usr", "lib", "os-release"), "utf8")).toBe(osRelease);
    await rm(bundle, { recursive: true, force: true });
    // the disk image booted, and the booted system's os-release is the branding's: the marker reports its
    // PRETTY_NAME (what systemd's welcome line shows) over the results port, which loses no bytes under load
    const { phases } = await json<{ phases: { name: string; outcome: string }[] }>(join(first.composeDir, "logs", "phases.json"));
    expect(phases.find((p) => p.name === "test")?.outcome, JSON.stringify(phases)).toBe("done");
    const prettyName = /^PRETTY_NAME="(.*)"$/m.exec(osRelease)![1]!;
    const booted = await readFile(join(first.composeDir, "logs", "boot-minimal-amd64.results.log"), "utf8");
    expect(booted).toContain(`\n${MARKER_OS_PREFIX}${prettyName}\n`);

    const tasksBefore = await withHub((client) => client.listTasks({ limit: 1000 }));
    const second = await compose(secondSkips);
    expect(second.code, second.output).toBe(0);
    expect(second.output).not.toMatch(/submitted/);
    expect(second.output).toMatch(/debian-bootc-branding 1\.0: built already, reused/);
    const again = (
      await json<{ payload: { builds: { buildId: number; reused: boolean }[] } }>(
        join(second.composeDir, "compose", "metadata", "builds.json"),
      )
    ).payload.builds;
    expect(again.map((b) => b.buildId).sort()).toEqual(builds.builds.map((b) => b.buildId).sort());
    expect(again.every((b) => b.reused)).toBe(true);
    const tasksAfter = await withHub((client) => client.listTasks({ limit: 1000 }));
    expect(tasksAfter).toHaveLength(tasksBefore.length);
  });
});
