import { chmod, link, lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blobPath } from "./blob-store.js";
import { PACKAGES_ANNOTATION, UNOWNED_ANNOTATION, writeOciImage } from "./image-writer.js";
import { compareLayers, layerGroups, readOciImage } from "./layout-reader.js";
import { writeOciArchive } from "./oci-archive.js";

let work: string;
let rootfs: string;
const longDir = `usr/share/${"deep-directory-name/".repeat(8)}end`;

async function put(path: string, content: string, mode = 0o644): Promise<void> {
  await mkdir(join(rootfs, path, ".."), { recursive: true });
  await writeFile(join(rootfs, path), content);
  await chmod(join(rootfs, path), mode);
}

/** A tiny merged-/usr tree with a dpkg database: three packages, unowned files, every file type we write. */
async function makeTree(): Promise<void> {
  await mkdir(rootfs, { recursive: true });
  await symlink("usr/bin", join(rootfs, "bin"));
  await put("usr/bin/alpha", "#!/bin/sh\necho alpha\n", 0o755);
  await put("usr/bin/su-like", "setuid program\n", 0o4755);
  await put("usr/share/doc/alpha/copyright", "alpha copyright\n");
  await symlink("alpha", join(rootfs, "usr/bin/alpha-link"));
  await put("usr/lib/beta/data.bin", "b".repeat(70_000));
  await link(join(rootfs, "usr/lib/beta/data.bin"), join(rootfs, "usr/lib/beta/data-hardlink.bin"));
  await put(`${longDir}/file-with-a-long-path.txt`, "long\n");
  await put("usr/share/gamma/ünïcödé.txt", "unicode name\n");
  await mkdir(join(rootfs, "usr/share/gamma/empty"), { recursive: true });
  await put("etc/generated.conf", "made by a maintainer script\n");
  await mkdir(join(rootfs, "var/empty-unowned"), { recursive: true });
  const info = "var/lib/dpkg/info";
  // alpha lists its binary under /bin: the merged-/usr symlink must map it to usr/bin
  await put(
    `${info}/alpha.list`,
    "/.\n/bin\n/bin/alpha\n/usr\n/usr/bin\n/usr/bin/su-like\n/usr/bin/alpha-link\n/usr/share/doc/alpha/copyright\n",
  );
  await put(`${info}/alpha.md5sums`, "0  usr/bin/alpha\n");
  await put(`${info}/beta:amd64.list`, "/.\n/usr\n/usr/lib\n/usr/lib/beta\n/usr/lib/beta/data.bin\n/usr/lib/beta/data-hardlink.bin\n");
  await put(
    `${info}/gamma.list`,
    `/.\n/usr/share/gamma\n/usr/share/gamma/ünïcödé.txt\n/usr/share/gamma/empty\n/${longDir}/file-with-a-long-path.txt\n`,
  );
  await put("var/lib/dpkg/status", "Package: alpha\n\nPackage: beta\n\nPackage: gamma\n");
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "oci-writer-"));
  rootfs = join(work, "rootfs");
  await makeTree();
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const xattrs = new Map([["usr/bin/alpha", new Map([["user.test", Buffer.from("value")]])]]);

describe("writeOciImage on a synthetic tree", () => {
  it("writes one layer per package plus the unowned layer, with the bootc labels", async () => {
    const layout = join(work, "layout-a");
    const result = await writeOciImage({ rootfs, layout, tag: "latest", sourceDateEpoch: 1700000000, version: "13.0", title: "test" });
    expect(result.layers.map((l) => l.packages)).toEqual([["alpha"], ["beta"], ["gamma"], []]);
    const image = await readOciImage(layout, "latest");
    expect(image.config.config?.Labels).toMatchObject({
      "containers.bootc": "1",
      "ostree.bootable": "1",
      "org.opencontainers.image.version": "13.0",
    });
    expect(image.config.created).toBe("2023-11-14T22:13:20Z");
    expect(image.config.rootfs.diff_ids).toHaveLength(4);
    expect(image.manifest.layers.at(-1)?.annotations?.[UNOWNED_ANNOTATION]).toBe("true");
    expect(image.manifest.layers[1]?.annotations?.[PACKAGES_ANNOTATION]).toBe("beta");
    expect(layerGroups(image.manifest)).toEqual([["alpha"], ["beta"], ["gamma"]]);
    expect(JSON.parse(await readFile(join(layout, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
  });

  it("gives identical digests for identical input, and different ones for another epoch", async () => {
    const one = await writeOciImage({ rootfs, layout: join(work, "det-1"), tag: "t", sourceDateEpoch: 5, xattrs });
    const two = await writeOciImage({ rootfs, layout: join(work, "det-2"), tag: "t", sourceDateEpoch: 5, xattrs });
    expect(two.manifest.digest).toBe(one.manifest.digest);
    expect(two.layers.map((l) => l.descriptor.digest)).toEqual(one.layers.map((l) => l.descriptor.digest));
    const three = await writeOciImage({ rootfs, layout: join(work, "det-3"), tag: "t", sourceDateEpoch: 6, xattrs });
    expect(three.manifest.digest).not.toBe(one.manifest.digest);
    await writeOciArchive(join(work, "det-1"), join(work, "one.ociarchive"), 5);
    await writeOciArchive(join(work, "det-2"), join(work, "two.ociarchive"), 5);
    expect(await readFile(join(work, "one.ociarchive"))).toEqual(await readFile(join(work, "two.ociarchive")));
  });

  it("unpacks with GNU tar, layer by layer, into the same tree (types, modes, links, long and UTF-8 names)", async () => {
    const layout = join(work, "layout-x");
    const result = await writeOciImage({ rootfs, layout, tag: "x", sourceDateEpoch: 0 });
    const out = join(work, "unpacked");
    await mkdir(out);
    for (const layer of result.layers) {
      await run("tar", ["-xzf", blobPath(layout, layer.descriptor.digest), "-C", out, "--numeric-owner", "-p"]);
    }
    expect(await readFile(join(out, "usr/bin/alpha"), "utf8")).toBe("#!/bin/sh\necho alpha\n");
    expect((await stat(join(out, "usr/bin/alpha"))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(out, "usr/bin/su-like"))).mode & 0o7777).toBe(0o4755);
    expect(await readlink(join(out, "bin"))).toBe("usr/bin");
    expect(await readlink(join(out, "usr/bin/alpha-link"))).toBe("alpha");
    const a = await stat(join(out, "usr/lib/beta/data.bin"));
    const b = await stat(join(out, "usr/lib/beta/data-hardlink.bin"));
    expect(a.ino).toBe(b.ino);
    expect(a.size).toBe(70_000);
    expect(await readFile(join(out, longDir, "file-with-a-long-path.txt"), "utf8")).toBe("long\n");
    expect(await readFile(join(out, "usr/share/gamma/ünïcödé.txt"), "utf8")).toBe("unicode name\n");
    expect((await lstat(join(out, "usr/share/gamma/empty"))).isDirectory()).toBe(true);
    expect((await lstat(join(out, "var/empty-unowned"))).isDirectory()).toBe(true);
    expect((await stat(join(out, "etc/generated.conf"))).mtimeMs).toBe(0);
  });

  it("puts each file in exactly the layer of its package, database files included", async () => {
    const layout = join(work, "layout-y");
    const result = await writeOciImage({ rootfs, layout, tag: "y", sourceDateEpoch: 0 });
    const listing = async (i: number) =>
      (await run("tar", ["-tzf", blobPath(layout, result.layers[i]!.descriptor.digest)])).stdout.trim().split("\n");
    const alpha = await listing(0);
    expect(alpha).toContain("usr/bin/alpha");
    expect(alpha).toContain("var/lib/dpkg/info/alpha.md5sums");
    expect(alpha).toContain("usr/");
    expect(alpha).not.toContain("usr/lib/beta/data.bin");
    const unowned = await listing(3);
    expect(unowned).toContain("etc/generated.conf");
    expect(unowned).toContain("var/lib/dpkg/status");
    expect(unowned).not.toContain("bin"); // alpha lists /bin, so the merged-/usr link travels with alpha
    expect(alpha).toContain("bin");
    expect(unowned).not.toContain("usr/bin/alpha");
  });

  it("records extended attributes as PAX SCHILY.xattr records", async () => {
    const layout = join(work, "layout-xattr");
    const result = await writeOciImage({ rootfs, layout, tag: "x", compression: "none", xattrs });
    const tar = await readFile(blobPath(layout, result.layers[0]!.descriptor.digest));
    expect(tar.includes(Buffer.from("SCHILY.xattr.user.test=value\n"))).toBe(true);
    expect(result.layers[0]!.descriptor.mediaType).toBe("application/vnd.oci.image.layer.v1.tar");
  });

  it("changes only the package's layer and the unowned one when a package is upgraded", async () => {
    const before = await writeOciImage({ rootfs, layout: join(work, "up-1"), tag: "t" });
    await put("usr/lib/beta/data.bin", "c".repeat(71_000));
    await put("var/lib/dpkg/status", "Package: alpha\n\nPackage: beta\nVersion: 2\n\nPackage: gamma\n");
    const after = await writeOciImage({
      rootfs,
      layout: join(work, "up-2"),
      tag: "t",
      prior: layerGroups((await readOciImage(join(work, "up-1"))).manifest),
    });
    const change = compareLayers((await readOciImage(join(work, "up-1"))).manifest, (await readOciImage(join(work, "up-2"))).manifest);
    expect(change.changedLayers).toBe(2);
    expect(after.layers[0]!.descriptor.digest).toBe(before.layers[0]!.descriptor.digest);
    expect(after.layers[1]!.descriptor.digest).not.toBe(before.layers[1]!.descriptor.digest);
  });

  it("respects a small layer budget", async () => {
    const result = await writeOciImage({ rootfs, layout: join(work, "budget"), tag: "t", maxLayers: 2 });
    expect(result.layers).toHaveLength(2);
    expect(result.layers[0]!.packages).toEqual(["alpha", "beta", "gamma"]);
  });
});
