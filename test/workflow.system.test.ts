import { chmod, cp, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { type Output, run, runCli } from "@debian-bootc/core";
import { tool } from "@debian-bootc/deb-bootc-compose";
import { afterAll, describe, expect, it } from "vitest";
import { expectBuiltImage, expectRecordedCompose } from "./built-image.js";
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

    const osRelease = await readFile(join(examples, "branding", "os-release"), "utf8");
    const { builds, packages, built } = await expectBuiltImage(first.composeDir, {
      tag: "13.0",
      osRelease,
      scratch: join(dir, "unpacked"),
    });
    expect(builds.builds.map((b) => b.source).sort()).toEqual(["debian-bootc-branding", "less"]);
    expect(builds.builds.every((b) => !b.reused)).toBe(true);
    expect(built.map((b) => b.binary.name).sort()).toEqual(["debian-bootc-branding", "less"]);
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
      expectRecordedCompose(await client.getCompose(basename(first.composeDir)), built, ["init", "build", "rootfs", "oci", "metadata"]);
    });
    // the branding package carries the image's os-release
    const brandingDeb = packages.find((p) => p.name === "debian-bootc-branding")!;
    const listing = (await run("dpkg-deb", ["-c", join(first.composeDir, "compose", "repo", brandingDeb.filename)])).stdout;
    expect(listing).toMatch(/\.\/usr\/lib\/os-release$/m);

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
