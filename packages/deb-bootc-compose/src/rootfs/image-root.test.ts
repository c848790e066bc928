import { link, lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { hostOwner, ImageRoot, imageOwner } from "./image-root.js";

const isRoot = process.getuid?.() === 0;

const dir = useTempDir("image-root-");
let root: string;
/** A directory on the "host", beside the tree, that no write into the tree may touch. */
let host: string;
beforeEach(async () => {
  root = join(dir(), "tree");
  host = join(dir(), "host");
  await mkdir(join(root, "usr/lib"), { recursive: true });
  await mkdir(join(root, "etc"), { recursive: true });
  await mkdir(host);
  await writeFile(join(host, "precious"), "host data\n");
});

describe("ImageRoot", () => {
  it("keeps .. at the root: /../outside/x is the tree's /outside/x", async () => {
    const tree = new ImageRoot(root);
    await tree.writeFile("/../outside/x", "inside\n");
    await tree.writeFile("/usr/../../../host/precious", "inside too\n");
    expect(await readFile(join(root, "outside/x"), "utf8")).toBe("inside\n");
    expect(await readFile(join(root, "host/precious"), "utf8")).toBe("inside too\n");
    expect(await readdir(dir())).toEqual(["host", "tree"]);
    expect(await readFile(join(host, "precious"), "utf8")).toBe("host data\n");
  });

  it("resolves an absolute symlink a package planted from the tree's root, never the host's", async () => {
    // a package makes usr/lib/deb-bootc-compose a link to the host directory's absolute path
    await symlink(host, join(root, "usr/lib/deb-bootc-compose"));
    const tree = new ImageRoot(root);
    await tree.writeFile("usr/lib/deb-bootc-compose/boot-marker", "#!/bin/sh\n", { mode: 0o755 });
    expect(await readdir(host)).toEqual(["precious"]);
    const landed = join(root, host, "boot-marker");
    expect(await readFile(landed, "utf8")).toBe("#!/bin/sh\n");
    expect((await stat(landed)).mode & 0o7777).toBe(0o755);
    expect(await tree.hostPath("usr/lib/deb-bootc-compose/boot-marker")).toBe(landed);
  });

  it("keeps relative symlinks with .. inside the tree", async () => {
    await symlink("../../../../../../host", join(root, "usr/lib/up"));
    const tree = new ImageRoot(root);
    await tree.writeFile("usr/lib/up/precious", "replaced in the image\n");
    expect(await readFile(join(root, "host/precious"), "utf8")).toBe("replaced in the image\n");
    expect(await readFile(join(host, "precious"), "utf8")).toBe("host data\n");
  });

  it("follows the image's own links the way a chroot does (merged /usr)", async () => {
    await symlink("usr/lib", join(root, "lib"));
    const tree = new ImageRoot(root);
    await tree.writeFile("/lib/systemd/system/x.service", "[Unit]\n");
    expect(await readFile(join(root, "usr/lib/systemd/system/x.service"), "utf8")).toBe("[Unit]\n");
    expect((await lstat(join(root, "lib"))).isSymbolicLink()).toBe(true);
  });

  it("replaces a final symlink instead of writing through it", async () => {
    await symlink(join(host, "precious"), join(root, "etc/fstab"));
    const tree = new ImageRoot(root);
    await tree.writeFile("/etc/fstab", "UUID=x / ext4 defaults 0 1\n");
    expect((await lstat(join(root, "etc/fstab"))).isFile()).toBe(true);
    expect(await readFile(join(root, "etc/fstab"), "utf8")).toBe("UUID=x / ext4 defaults 0 1\n");
    expect(await readFile(join(host, "precious"), "utf8")).toBe("host data\n");
  });

  it("replaces a file instead of writing into its inode (a hard link shared with a cached tree stays as it was)", async () => {
    await writeFile(join(host, "cached"), "cached\n");
    await link(join(host, "cached"), join(root, "etc/motd"));
    await new ImageRoot(root).writeFile("etc/motd", "new\n");
    expect(await readFile(join(root, "etc/motd"), "utf8")).toBe("new\n");
    expect(await readFile(join(host, "cached"), "utf8")).toBe("cached\n");
  });

  it("chmod refuses a symlink and chown changes the link itself, never the host file", async () => {
    await symlink(join(host, "precious"), join(root, "etc/shadow"));
    const before = await stat(join(host, "precious"));
    const tree = new ImageRoot(root);
    await expect(tree.chmod("etc/shadow", 0o777)).rejects.toMatchObject({ code: "IMAGE_PATH_UNRESOLVABLE" });
    expect((await stat(join(host, "precious"))).mode).toBe(before.mode);
    if (!isRoot) return; // chown to another owner needs CAP_CHOWN
    await tree.chown("etc/shadow", { uid: 4321, gid: 4321 });
    expect((await lstat(join(root, "etc/shadow"))).uid).toBe(4321);
    expect((await stat(join(host, "precious"))).uid).toBe(before.uid);
  });

  it("mkdirs, symlink, rename and remove stay inside the tree", async () => {
    await symlink(host, join(root, "var"));
    const tree = new ImageRoot(root);
    await tree.mkdirs("/var/lib/x", { mode: 0o700 });
    expect((await stat(join(root, host, "lib/x"))).mode & 0o777).toBe(0o700);
    await tree.symlink("/etc/passwd", "var/lib/x/link");
    expect(await readlink(join(root, host, "lib/x/link"))).toBe("/etc/passwd");
    await tree.rename("var/lib/x", "/var/lib/y");
    expect(await readdir(join(root, host, "lib"))).toEqual(["y"]);
    await tree.remove("/var/lib/y");
    await tree.remove("var");
    expect((await lstat(join(root, "var")).catch(() => undefined)) === undefined).toBe(true);
    expect(await readdir(host)).toEqual(["precious"]);
  });

  it("emptyDirectory replaces a planted symlink with a directory instead of emptying its target", async () => {
    await symlink(host, join(root, "boot"));
    await symlink("etc", join(root, "tmp"));
    await writeFile(join(root, "etc/hostname"), "image\n");
    const tree = new ImageRoot(root);
    await tree.emptyDirectory("/boot");
    await tree.emptyDirectory("tmp", 0o1777);
    expect(await readdir(host)).toEqual(["precious"]);
    expect(await readdir(join(root, "etc"))).toEqual(["hostname"]);
    expect((await lstat(join(root, "boot"))).isDirectory()).toBe(true);
    expect((await lstat(join(root, "tmp"))).mode & 0o7777).toBe(0o1777);
  });

  it("reads through the image's links only: a link to a host path reads the tree's file of that path", async () => {
    await mkdir(join(root, host), { recursive: true });
    await writeFile(join(root, host, "precious"), "image copy\n");
    await symlink(join(host, "precious"), join(root, "etc/os-release"));
    const tree = new ImageRoot(root);
    expect(await tree.readText("/etc/os-release")).toBe("image copy\n");
    expect(await tree.readText("/etc/missing")).toBeUndefined();
    expect(await tree.list("/")).toEqual(expect.arrayContaining(["etc", "usr"]));
    expect(await tree.kind("etc/os-release")).toBe("symlink");
  });

  it("refuses symlink loops and files used as directories with a coded error", async () => {
    await symlink("b", join(root, "etc/a"));
    await symlink("a", join(root, "etc/b"));
    await writeFile(join(root, "etc/file"), "");
    const tree = new ImageRoot(root);
    await expect(tree.writeFile("etc/a/x", "")).rejects.toMatchObject({
      code: "IMAGE_PATH_UNRESOLVABLE",
      message: expect.stringContaining("too many levels of symbolic links"),
    });
    await expect(tree.writeFile("etc/file/x", "")).rejects.toMatchObject({
      code: "IMAGE_PATH_UNRESOLVABLE",
      message: expect.stringContaining("/etc/file is not a directory"),
    });
    await expect(tree.writeFile("/", "")).rejects.toMatchObject({ code: "IMAGE_PATH_UNRESOLVABLE" });
  });

  it("shifts owners into a subordinate range and back", () => {
    const shift = { uid: 100000, gid: 200000, count: 65536 };
    expect(hostOwner(shift, { uid: 0, gid: 0 })).toEqual({ uid: 100000, gid: 200000 });
    expect(hostOwner(shift, { uid: 1000, gid: 100 })).toEqual({ uid: 101000, gid: 200100 });
    expect(imageOwner(shift, { uid: 101000, gid: 200100 })).toEqual({ uid: 1000, gid: 100 });
    expect(hostOwner(undefined, { uid: 5, gid: 6 })).toEqual({ uid: 5, gid: 6 });
    expect(() => hostOwner(shift, { uid: 65536, gid: 0 })).toThrow(/outside the image's id range/);
  });

  it.runIf(isRoot)("gives what it writes the in-image owner, shifted by the tree's range", async () => {
    const tree = new ImageRoot(root, { ids: { uid: 100000, gid: 100000, count: 65536 } });
    await tree.writeFile("/home/me/.ssh/authorized_keys", "ssh-ed25519 AAAA x\n", { mode: 0o600, owner: { uid: 1000, gid: 1000 } });
    await tree.symlink("../x", "/etc/link");
    const file = await lstat(join(root, "home/me/.ssh/authorized_keys"));
    expect([file.uid, file.gid, file.mode & 0o7777]).toEqual([101000, 101000, 0o600]);
    const parent = await lstat(join(root, "home/me/.ssh"));
    expect([parent.uid, parent.gid]).toEqual([100000, 100000]);
    const link = await lstat(join(root, "etc/link"));
    expect([link.uid, link.gid]).toEqual([100000, 100000]);
    expect(tree.imageOwner(file)).toEqual({ uid: 1000, gid: 1000 });
  });
});
