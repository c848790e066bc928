// Test support (not shipped): what the end-to-end tests check of a compose made from orchestrator builds.
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { type BuildState, DPKG_SYSIMAGE_DIR, MARKER_OS_PREFIX, type PackageRecord } from "@debian-bootc/deb-bootc-compose";
import { parseDeb822 } from "@debian-bootc/debian";
import { expect } from "vitest";

export interface BuiltImage {
  builds: BuildState;
  /** The minimal variant's amd64 package list. */
  packages: PackageRecord[];
  /** Every binary of the builds that is in the package list, with its build. */
  built: Array<{ build: BuildState["builds"][number]; binary: BuildState["builds"][number]["binaries"][number] }>;
}

const json = async <T>(path: string): Promise<T> => JSON.parse(await readFile(path, "utf8")) as T;

/**
 * A FINISHED compose's minimal/amd64 image made with packages the orchestrator built: each built binary in
 * the package set, the lockfile and the snapshot repository with the version and SHA256 the orchestrator
 * recorded, its metadata pointing at the build (build, task, buildroot, tag); the OCI image (tag `tag`,
 * unpacked in `scratch`, removed afterwards) has them installed at those versions and `osRelease` as
 * its os-release; the disk image booted, and the marker reported that os-release's PRETTY_NAME (unless
 * `booted: false`: a compose that skipped its test phase, its image booted by a later test).
 */
export async function expectBuiltImage(
  composeDir: string,
  options: { tag: string; osRelease: string; scratch: string; booted?: false },
): Promise<BuiltImage> {
  expect((await readFile(join(composeDir, "STATUS"), "utf8")).trim()).toBe("FINISHED");
  const meta = join(composeDir, "compose", "metadata");
  const builds = (await json<{ payload: BuildState }>(join(meta, "builds.json"))).payload;
  const packages = (await json<{ payload: { packages: Record<string, Record<string, PackageRecord[]>> } }>(join(meta, "packages.json")))
    .payload.packages.minimal!.amd64!;
  const lockfile = await readFile(join(meta, "lockfile.json"), "utf8");
  const snapshotPackages = (await run("sh", ["-c", 'cat "$1"/compose/repo/dists/*/main/binary-amd64/Packages', "sh", composeDir])).stdout;
  const built = builds.builds.flatMap((build) =>
    build.binaries.filter((b) => packages.some((p) => p.name === b.name)).map((binary) => ({ build, binary })),
  );
  for (const { build, binary } of built) {
    const pkg = packages.find((p) => p.name === binary.name)!;
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

  // the final image: the OCI image has the built packages installed at the versions the orchestrator
  // recorded, and the expected os-release
  await run("umoci", ["unpack", "--image", `${join(composeDir, "compose", "minimal", "amd64", "oci")}:${options.tag}`, options.scratch], {
    debianPackage: "umoci",
  });
  try {
    const installed = new Map(
      parseDeb822(await readFile(join(options.scratch, "rootfs", DPKG_SYSIMAGE_DIR, "status"), "utf8"))
        .filter((p) => p.get("Status") === "install ok installed")
        .map((p) => [p.get("Package"), p.get("Version")]),
    );
    for (const { binary } of built) expect(installed.get(binary.name), binary.name).toBe(binary.version);
    expect(await readFile(join(options.scratch, "rootfs", "usr", "lib", "os-release"), "utf8")).toBe(options.osRelease);
  } finally {
    await rm(options.scratch, { recursive: true, force: true });
  }
  if (options.booted !== false) await expectBootedAs(composeDir, options.osRelease);
  return { builds, packages, built };
}

/**
 * The compose's test phase booted its minimal/amd64 disk image, and the booted system's os-release is
 * `osRelease`: the marker reports its PRETTY_NAME (what systemd's welcome line shows) over the results
 * port, which loses no bytes under load.
 */
export async function expectBootedAs(composeDir: string, osRelease: string): Promise<void> {
  const { phases } = await json<{ phases: { name: string; outcome: string }[] }>(join(composeDir, "logs", "phases.json"));
  expect(phases.find((p) => p.name === "test")?.outcome, JSON.stringify(phases)).toBe("done");
  const prettyName = /^PRETTY_NAME="(.*)"$/m.exec(osRelease)![1]!;
  const booted = await readFile(join(composeDir, "logs", "boot-minimal-amd64.results.log"), "utf8");
  expect(booted).toContain(`\n${MARKER_OS_PREFIX}${prettyName}\n`);
}

/** The compose as its hub recorded it: FINISHED, these phases done, its OCI image's digest, the built packages linked to their builds. */
export function expectRecordedCompose(
  recorded: {
    status: string;
    phases: { name: string; status: string }[];
    images: { kind: string; variant: string; digest?: string | null }[];
    packages: { variant: string; name: string; build?: number | null }[];
  },
  built: BuiltImage["built"],
  phasesDone: string[],
): void {
  expect(recorded.status).toBe("FINISHED");
  expect(recorded.phases.filter((p) => p.status === "done").map((p) => p.name)).toEqual(expect.arrayContaining(phasesDone));
  expect(recorded.images.find((i) => i.kind === "oci" && i.variant === "minimal")?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  for (const { build, binary } of built)
    expect(recorded.packages.find((p) => p.variant === "minimal" && p.name === binary.name)?.build, binary.name).toBe(build.buildId);
}
