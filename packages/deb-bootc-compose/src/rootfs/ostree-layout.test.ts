import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { lintImage } from "../lint/image-lint.js";
import { ImageRoot } from "./image-root.js";
import { applyOstreeLayout, installKernel, VAR_TMPFILES } from "./ostree-layout.js";

let root: string;
/** A host directory outside the tree, which a symlink planted by a package points at. */
let host: string | undefined;
afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true });
  if (host) await rm(host, { recursive: true, force: true });
  host = undefined;
});

async function hostDirectory(): Promise<string> {
  host = await mkdtemp(join(tmpdir(), "layout-host-"));
  await writeFile(join(host, "precious"), "host data\n");
  return host;
}

const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;

/** A small tree shaped like what mmdebstrap leaves: merged /usr, a kernel in /boot, /var with dpkg's database and state. */
async function debianTree(kernels = ["6.12.0-1-amd64"]): Promise<string> {
  root = await mkdtemp(join(tmpdir(), "layout-"));
  const file = async (rel: string, content = "x\n") => {
    await mkdir(join(root, rel, ".."), { recursive: true });
    await writeFile(join(root, rel), content);
  };
  for (const d of [
    "usr/bin",
    "usr/lib",
    "etc",
    "home",
    "root",
    "opt",
    "srv",
    "mnt",
    "media",
    "usr/local/bin",
    "dev",
    "run/lock",
    "tmp",
    "proc",
    "sys",
  ])
    await mkdir(join(root, d), { recursive: true });
  await symlink("usr/bin", join(root, "bin"));
  await file("etc/passwd", `root:x:0:0:root:/root:/bin/bash\nme:x:${uid}:${gid}::/home/me:/bin/sh\n`);
  await file("etc/group", `root:x:0:\nme:x:${gid}:\n`);
  for (const k of kernels) {
    await file(`boot/vmlinuz-${k}`, "kernel");
    await file(`boot/config-${k}`);
    await file(`boot/System.map-${k}`);
    await file(`usr/lib/modules/${k}/modules.dep`);
  }
  await symlink(`boot/vmlinuz-${kernels[0]}`, join(root, "vmlinuz"));
  await file("var/lib/dpkg/status", "Package: base-files\n");
  await file("var/lib/dpkg/status-old");
  await file("var/lib/dpkg/info/base-files.list", "/etc\n");
  await file("var/lib/apt/extended_states");
  await file("var/lib/apt/lists/deb.example_dists_trixie_InRelease");
  await file("var/cache/apt/pkgcache.bin");
  await file("var/log/dpkg.log");
  await file("var/log/journal/.keep");
  await mkdir(join(root, "var/spool/mail"), { recursive: true });
  await symlink("../run/lock", join(root, "var/lock"));
  await file("root/.bashrc");
  await file("usr/lib/tmpfiles.d/var.conf", "d /var/log 0755 - - -\nd /var/spool 0755 - - -\n");
  return root;
}

describe("installKernel", () => {
  it("moves the one kernel to /usr/lib/modules/KVER/vmlinuz and empties /boot", async () => {
    await debianTree();
    expect(await installKernel(new ImageRoot(root))).toEqual({ kver: "6.12.0-1-amd64", vmlinuz: "usr/lib/modules/6.12.0-1-amd64/vmlinuz" });
    expect(await readFile(join(root, "usr/lib/modules/6.12.0-1-amd64/vmlinuz"), "utf8")).toBe("kernel");
    expect(await readdir(join(root, "boot"))).toEqual([]);
    await expect(lstat(join(root, "vmlinuz"))).rejects.toThrow();
  });

  it("refuses two kernels, naming them", async () => {
    await debianTree(["6.12.0-1-amd64", "6.12.0-2-amd64"]);
    await expect(installKernel(new ImageRoot(root))).rejects.toMatchObject({
      code: "KERNEL_COUNT",
      message: expect.stringMatching(/2 kernels installed \(6\.12\.0-1-amd64, 6\.12\.0-2-amd64\)/),
    });
  });
});

describe("applyOstreeLayout", () => {
  it("moves dpkg under /usr, links the /var-homed directories, empties /var and declares it in tmpfiles.d", async () => {
    await debianTree();
    await installKernel(new ImageRoot(root));
    const result = await applyOstreeLayout(new ImageRoot(root));
    expect(await readFile(join(root, "usr/lib/sysimage/dpkg/status"), "utf8")).toBe("Package: base-files\n");
    await expect(lstat(join(root, "usr/lib/sysimage/dpkg/status-old"))).rejects.toThrow();
    expect(await readdir(join(root, "var"))).toEqual([]);
    expect(result.linked).toEqual(["home", "root", "opt", "srv", "mnt", "usr/local"]);
    expect(await readlink(join(root, "root"))).toBe("var/roothome");
    expect(await readlink(join(root, "usr/local"))).toBe("../var/usrlocal");
    expect(await readlink(join(root, "media"))).toBe("run/media");
    expect(await readlink(join(root, "ostree"))).toBe("sysroot/ostree");
    expect((await lstat(join(root, "sysroot"))).isDirectory()).toBe(true);
    const tmpfiles = await readFile(join(root, VAR_TMPFILES), "utf8");
    expect(tmpfiles).toContain("C /var/roothome/.bashrc - - - - /usr/share/factory/var/roothome/.bashrc\n");
    expect(tmpfiles).toContain("C /var/lib/apt/extended_states - - - - /usr/share/factory/var/lib/apt/extended_states\n");
    expect(tmpfiles).toContain("d /var/usrlocal/bin 0755 ");
    expect(tmpfiles).toContain("L /var/lib/dpkg - - - - ../../usr/lib/sysimage/dpkg\n");
    // declared elsewhere (var.conf) or regenerable: not repeated, not carried
    expect(tmpfiles).not.toMatch(/ \/var\/log /);
    expect(tmpfiles).not.toContain("pkgcache.bin");
    expect(tmpfiles).not.toContain("InRelease");
    expect(tmpfiles).toContain("d /var/log/journal ");
    expect(tmpfiles).toContain("L /var/lock - - - - ../run/lock\n");
    expect(result.var.dropped).toEqual(expect.arrayContaining(["var/cache/apt/pkgcache.bin", "var/log/dpkg.log"]));
    expect(await readFile(join(root, "usr/share/factory/var/roothome/.bashrc"), "utf8")).toBe("x\n");
    expect(await readdir(join(root, "dev"))).toEqual([]);
    expect(await readdir(join(root, "run"))).toEqual([]);
    const lint = await lintImage(root);
    // the image checks agree: only the initramfs (made by dracut, not here) is missing; /var is fully declared
    expect(lint.results.filter((r) => !r.ok && r.severity === "error").map((r) => r.check)).toEqual(["initramfs"]);
    expect(lint.results.find((r) => r.check === "var-tmpfiles")?.ok).toBe(true);
  });

  it("refuses a /media with content", async () => {
    await debianTree();
    await writeFile(join(root, "media/usb"), "");
    await expect(applyOstreeLayout(new ImageRoot(root))).rejects.toMatchObject({ code: "ROOTFS_LAYOUT_FAILED" });
  });

  it("keeps to the tree when a package planted /boot, /var and /media as links to host directories", async () => {
    await debianTree();
    const outside = await hostDirectory();
    await rm(join(root, "media"), { recursive: true });
    await symlink(outside, join(root, "media"));
    const tree = new ImageRoot(root);
    await installKernel(tree);
    await rm(join(root, "boot"), { recursive: true });
    await symlink(outside, join(root, "boot"));
    await rm(join(root, "var"), { recursive: true });
    await symlink(outside, join(root, "var"));
    await applyOstreeLayout(tree);
    expect(await readdir(outside)).toEqual(["precious"]);
    expect(await readFile(join(outside, "precious"), "utf8")).toBe("host data\n");
    expect((await lstat(join(root, "boot"))).isDirectory()).toBe(true);
    expect(await readdir(join(root, "var"))).toEqual([]);
    await expect(lstat(join(root, "usr/share/factory/var/precious"))).rejects.toThrow();
  });

  it("keeps to the tree when /usr/lib/sysimage is a link to a host directory", async () => {
    await debianTree();
    const outside = await hostDirectory();
    await symlink(outside, join(root, "usr/lib/sysimage"));
    const tree = new ImageRoot(root);
    await installKernel(tree);
    await applyOstreeLayout(tree);
    // the database went to the tree's own path of that name (under its /tmp, emptied afterwards), not to the host's
    expect(await readdir(outside)).toEqual(["precious"]);
    expect(await readdir(join(root, "tmp"))).toEqual([]);
  });
});
