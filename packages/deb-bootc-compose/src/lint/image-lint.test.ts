import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryOutput, runCli } from "@debian-bootc/core";
import { afterEach, describe, expect, it } from "vitest";
import { tool } from "../tool.js";
import { type LintReport, lintImage } from "./image-lint.js";

let root: string;
afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

async function put(path: string, content = ""): Promise<void> {
  await mkdir(join(root, path, ".."), { recursive: true });
  await writeFile(join(root, path), content);
}

/** A tree laid out the way the rootfs phase leaves it for ostree. */
async function goodTree(): Promise<void> {
  root = await mkdtemp(join(tmpdir(), "lint-"));
  for (const dir of [
    "dev",
    "proc",
    "sys",
    "run",
    "tmp",
    "var/lib",
    "boot",
    "sysroot",
    "usr/etc",
    "usr/lib/tmpfiles.d",
    "usr/lib/sysusers.d",
  ]) {
    await mkdir(join(root, dir), { recursive: true });
  }
  await symlink("sysroot/ostree", join(root, "ostree"));
  await put("usr/lib/modules/6.12.0-1-amd64/vmlinuz", "kernel");
  await put("usr/lib/modules/6.12.0-1-amd64/initramfs.img", "initramfs");
  await put("usr/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nmessagebus:x:100:101::/nonexistent:/usr/sbin/nologin\n");
  await put("usr/lib/sysusers.d/dbus.conf", 'u messagebus - "System Message Bus"\n');
  await put("usr/lib/tmpfiles.d/var.conf", "d /var/lib 0755 - - -\nL /var/lib/dpkg - - - - ../../usr/lib/sysimage/dpkg\n");
}

const failed = (report: LintReport) => report.results.filter((r) => !r.ok).map((r) => r.check);

describe("lintImage", () => {
  it("passes a tree laid out for ostree", async () => {
    await goodTree();
    const report = await lintImage(root);
    expect(failed(report)).toEqual([]);
    expect(report.errors).toBe(0);
    expect(report.results.find((r) => r.check === "kernel")?.message).toBe("one kernel: 6.12.0-1-amd64");
  });

  it("fails on two kernels, a missing initramfs, content in /boot and /run, and both /etc and /usr/etc", async () => {
    await goodTree();
    await put("usr/lib/modules/6.13.0-1-amd64/vmlinuz", "second kernel");
    await put("boot/vmlinuz-6.12.0-1-amd64", "");
    await put("run/lock/x", "");
    await mkdir(join(root, "etc"));
    const report = await lintImage(root);
    expect(failed(report)).toEqual(["kernel", "initramfs", "boot-empty", "etc-usretc", "run-empty"]);
    expect(report.errors).toBe(5);
    expect(report.results.find((r) => r.check === "boot-empty")?.items).toEqual(["boot/vmlinuz-6.12.0-1-amd64"]);
  });

  it("fails without a kernel or the ostree base layout, and on non-UTF-8 names", async () => {
    await goodTree();
    await rm(join(root, "usr/lib/modules"), { recursive: true });
    await rm(join(root, "ostree"));
    await writeFile(Buffer.concat([Buffer.from(`${root}/usr/bad-`), Buffer.from([0xff, 0xfe])]), "");
    const report = await lintImage(root);
    expect(failed(report)).toEqual(["kernel", "baseimage-root", "utf8-names"]);
    expect(report.results.find((r) => r.check === "kernel")?.message).toMatch(/no kernel/);
  });

  it("warns about /var content tmpfiles.d does not declare, users without sysusers.d, and /tmp content", async () => {
    await goodTree();
    await put("var/cache/apt/pkgcache.bin", "");
    await put("var/lib/dpkg/status", ""); // under a declared path: fine
    await put("tmp/leftover", "");
    await put("usr/etc/passwd", "root:x:0:0::/root:/bin/bash\nadmin:x:1000:1000::/home/admin:/bin/bash\n");
    const report = await lintImage(root);
    expect(failed(report)).toEqual(["tmp-empty", "var-tmpfiles", "sysusers"]);
    expect(report.errors).toBe(0);
    expect(report.warnings).toBe(3);
    expect(report.results.find((r) => r.check === "var-tmpfiles")?.items).toEqual([
      "var/cache",
      "var/cache/apt",
      "var/cache/apt/pkgcache.bin",
    ]);
    expect(report.results.find((r) => r.check === "sysusers")?.items).toEqual(["admin"]);
  });
});

describe("deb-bootc-compose lint", () => {
  it("exits 0 on a good tree and 1 with the failed checks named on a bad one", async () => {
    await goodTree();
    const good = memoryOutput();
    expect(await runCli(tool, ["lint", root], good)).toBe(0);
    expect(good.text.at(-1)).toBe("0 error(s), 0 warning(s)");
    await put("boot/initrd.img", "");
    const bad = memoryOutput();
    expect(await runCli(tool, ["lint", root], bad)).toBe(1);
    expect(bad.text).toContain("FAIL boot-empty: /boot must be empty in an image (ostree fills it at deploy time)");
    const json = memoryOutput();
    expect(await runCli(tool, ["lint", "--json", root], json)).toBe(1);
    expect(JSON.parse(json.text[0]!).errors).toBe(1);
  });
});
