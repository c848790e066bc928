/**
 * System tier: a real trixie minbase tree from the host's mirror, written as a bootc OCI image and read
 * back by skopeo and umoci (Debian packages mmdebstrap, skopeo, umoci, attr). Needs root.
 */
import { copyFile, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { defaultMirror } from "@debian-bootc/debian";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDpkgOwnership } from "./dpkg-ownership.js";
import { type OciImageResult, writeOciImage } from "./image-writer.js";
import { compareLayers, layerGroups, readOciImage } from "./layout-reader.js";
import { writeOciArchive } from "./oci-archive.js";
import { readXattrs } from "./rootfs-scan.js";

const isRoot = process.getuid?.() === 0;
const EPOCH = 1750000000;
let work: string;
let rootfs: string;
let first: OciImageResult;

describe.skipIf(!isRoot && !process.env.CI)("bootc OCI image of a real trixie minbase tree", () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "oci-system-"));
    rootfs = join(work, "rootfs");
    const mirror = await defaultMirror();
    await run("mmdebstrap", ["--variant=minbase", "--mode=root", "--quiet", "trixie", rootfs, mirror], { debianPackage: "mmdebstrap" });
    await run("setfattr", ["-n", "user.bootc-test", "-v", "kept", join(rootfs, "usr/bin/hostname")], { debianPackage: "attr" });
    first = await writeOciImage({
      rootfs,
      layout: join(work, "layout-1"),
      tag: "trixie",
      sourceDateEpoch: EPOCH,
      version: "13.0",
      title: "debian-bootc-minbase",
      xattrs: await readXattrs(rootfs),
    });
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("groups files by package within the 64-layer budget, the package's file in its layer", async () => {
    const { owner, packages } = await readDpkgOwnership(rootfs);
    expect(owner.get("usr/bin/hostname")).toBe("hostname");
    expect(first.layers.length).toBeLessThanOrEqual(64);
    expect(first.layers.length).toBeGreaterThan(20);
    expect(first.layers.flatMap((l) => l.packages).sort()).toEqual(packages);
    const layer = first.layers.find((l) => l.packages.includes("hostname"))!;
    const listing = await run("tar", ["-tzf", join(work, "layout-1", "blobs", ...layer.descriptor.digest.split(":"))]);
    expect(listing.stdout.split("\n")).toContain("usr/bin/hostname");
    console.log(
      `[oci] ${packages.length} packages -> ${first.layers.length} layers, ${first.layers.reduce((s, l) => s + l.descriptor.size, 0)} bytes`,
    );
  });

  it("is reproducible: a second write gives the same digests, and so does the .ociarchive", async () => {
    const second = await writeOciImage({
      rootfs,
      layout: join(work, "layout-2"),
      tag: "trixie",
      sourceDateEpoch: EPOCH,
      version: "13.0",
      title: "debian-bootc-minbase",
      xattrs: await readXattrs(rootfs),
    });
    expect(second.manifest.digest).toBe(first.manifest.digest);
    expect(second.config.digest).toBe(first.config.digest);
    await writeOciArchive(join(work, "layout-1"), join(work, "one.ociarchive"), EPOCH);
    await writeOciArchive(join(work, "layout-2"), join(work, "two.ociarchive"), EPOCH);
    const hash = async (p: string) => (await run("sha256sum", [p])).stdout.split(" ")[0];
    expect(await hash(join(work, "one.ociarchive"))).toBe(await hash(join(work, "two.ociarchive")));
    console.log(`[oci] manifest ${first.manifest.digest} stable across two writes`);
  });

  it("skopeo inspect reads the layout and the archive with the bootc labels", async () => {
    const fromDir = JSON.parse(
      (await run("skopeo", ["inspect", `oci:${join(work, "layout-1")}:trixie`], { debianPackage: "skopeo" })).stdout,
    );
    expect(fromDir.Labels).toMatchObject({ "containers.bootc": "1", "ostree.bootable": "1", "org.opencontainers.image.version": "13.0" });
    expect(fromDir.Layers).toHaveLength(first.layers.length);
    expect(fromDir.Digest).toBe(first.manifest.digest);
    const fromArchive = JSON.parse((await run("skopeo", ["inspect", `oci-archive:${join(work, "one.ociarchive")}:trixie`])).stdout);
    expect(fromArchive.Digest).toBe(first.manifest.digest);
  });

  it("umoci unpacks it into the same tree", async () => {
    const bundle = join(work, "bundle");
    await run("umoci", ["unpack", "--image", `${join(work, "layout-1")}:trixie`, bundle], { debianPackage: "umoci" });
    const unpacked = join(bundle, "rootfs");
    expect(await readFile(join(unpacked, "usr/bin/hostname"))).toEqual(await readFile(join(rootfs, "usr/bin/hostname")));
    expect(await readFile(join(unpacked, "var/lib/dpkg/status"), "utf8")).toContain("Package: hostname");
    const attr = await run("getfattr", ["--only-values", "-n", "user.bootc-test", join(unpacked, "usr/bin/hostname")]);
    expect(attr.stdout).toBe("kept");
    const listTree = async (root: string) =>
      (await run("find", [".", "-not", "-type", "d", "-printf", "%p %m %U %G %y %s %l\\n"], { cwd: root })).stdout.split("\n").sort();
    expect(await listTree(unpacked)).toEqual(await listTree(rootfs));
  });

  it("an upgrade of one package changes few layers and a few percent of the bytes", async () => {
    // a real version change of one package: the host's (older) build of hostname, installed with dpkg
    const debs = join(work, "debs");
    await run("mkdir", ["-p", debs]);
    await run("apt-get", ["download", "hostname"], { cwd: debs });
    const deb = (await readdir(debs)).find((f) => f.endsWith(".deb"))!;
    await copyFile(join(debs, deb), join(rootfs, "tmp", deb));
    const single1 = await writeOciImage({ rootfs, layout: join(work, "single-1"), tag: "t", sourceDateEpoch: EPOCH, maxLayers: 1 });
    await run("chroot", [rootfs, "dpkg", "-i", `/tmp/${deb}`]);
    await rm(join(rootfs, "tmp", deb));
    const prior = layerGroups((await readOciImage(join(work, "layout-1"), "trixie")).manifest);
    await writeOciImage({ rootfs, layout: join(work, "layout-3"), tag: "trixie", sourceDateEpoch: EPOCH, prior });
    const single2 = await writeOciImage({ rootfs, layout: join(work, "single-2"), tag: "t", sourceDateEpoch: EPOCH, maxLayers: 1 });
    const before = (await readOciImage(join(work, "layout-1"), "trixie")).manifest;
    const after = (await readOciImage(join(work, "layout-3"), "trixie")).manifest;
    const change = compareLayers(before, after);
    expect(single1.layers).toHaveLength(1);
    expect(single2.layers[0]!.descriptor.digest).not.toBe(single1.layers[0]!.descriptor.digest);
    expect(change.changedLayers).toBeGreaterThanOrEqual(2); // hostname's layer and the unowned one (dpkg status)
    expect(change.changedLayers).toBeLessThanOrEqual(3);
    expect(change.changedBytes / change.totalBytes).toBeLessThan(0.05);
    const singleBytes = single2.layers[0]!.descriptor.size;
    console.log(
      `[oci] upgrade of hostname (${deb}): ${change.changedLayers}/${change.totalLayers} layers, ${change.changedBytes} of ${change.totalBytes} bytes changed (${((100 * change.changedBytes) / change.totalBytes).toFixed(2)}%); single-layer image: ${singleBytes} of ${singleBytes} bytes (100%)`,
    );
  });
});
