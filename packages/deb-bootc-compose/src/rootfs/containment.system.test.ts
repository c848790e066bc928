/**
 * System tier: the compose's chroot steps run the image's programs in deb-mock's rootless sandbox, and
 * the tree they leave (owned by the subordinate range on disk) keeps its in-image owners in the OSTree
 * commit and the OCI layers. A small trixie tree (mmdebstrap essential + mount, made the way the rootfs
 * phase makes trees) is enough. Needs root, mmdebstrap, bubblewrap, uidmap and the Debian mirror; about
 * 2 minutes.
 */
import { existsSync } from "node:fs";
import { chmod, lchown, lstat, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError, run } from "@debian-bootc/core";
import { defaultMirror } from "@debian-bootc/debian";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blobPath } from "../oci/blob-store.js";
import { writeOciImage } from "../oci/image-writer.js";
import { readXattrs } from "../oci/rootfs-scan.js";
import { commitTree } from "../ostree/commit.js";
import { runrootScript } from "../ostree/runroot.js";
import { imageIds, runAsRangeRoot, runInRoot } from "./chroot.js";
import { ImageRoot } from "./image-root.js";

const tools = ["/usr/bin/mmdebstrap", "/usr/bin/bwrap", "/usr/bin/newuidmap"];
const ready = Boolean(process.env.CI) || (process.getuid?.() === 0 && tools.every((t) => existsSync(t)));

let work: string;
let tree: string;

/** A block device of the host (its name and major:minor from /sys/block), such as the disk under /. */
async function hostDisk(): Promise<{ name: string; dev: string }> {
  const names = (await readdir("/sys/block")).filter((n) => !/^(loop|ram|zram|sr|nbd)/.test(n));
  const name = names[0];
  if (!name) throw new Error("this host has no block device to try");
  return { name, dev: (await readFile(`/sys/block/${name}/dev`, "utf8")).trim() };
}

/** Run a shell snippet in the tree; resolves to its exit code (0 or the COMMAND_FAILED code). */
async function exitCode(script: string): Promise<{ code: number; output: string }> {
  let output = "";
  try {
    await runInRoot(tree, ["/bin/sh", "-c", script], { onOutput: (c) => (output += c.toString()) });
    return { code: 0, output };
  } catch (error) {
    if (!isCodedError(error, "COMMAND_FAILED")) throw error;
    return { code: (error as { details?: { exitCode?: number } }).details?.exitCode ?? 1, output };
  }
}

describe.runIf(ready)("compose chroots are rootless", () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "compose-containment-"));
    await chmod(work, 0o755); // the range's root makes the tree in it
    tree = join(work, "tree");
    const ids = await imageIds();
    await mkdir(tree);
    await lchown(tree, ids.uid, ids.gid);
    await runAsRangeRoot(
      "mmdebstrap",
      ["--mode=unshare", "--variant=essential", "--include=mount,passwd", "--format=directory", "trixie", tree, await defaultMirror()],
      { env: { ...process.env, HOME: "/" }, debianPackage: "mmdebstrap" },
    );
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("leaves the tree owned by the range: the image's root is the range's first id", async () => {
    const ids = await imageIds();
    const st = await lstat(join(tree, "usr/bin/mount"));
    expect([st.uid, st.gid]).toEqual([ids.uid, ids.gid]);
    const inside = await exitCode("id -u; cat /proc/self/uid_map");
    expect(inside.code).toBe(0);
    expect(inside.output.split("\n")[0]).toBe("0");
    expect(inside.output).toMatch(new RegExp(`^\\s*0\\s+${ids.uid}\\s+${ids.count}\\s*$`, "m"));
  });

  it("refuses mknod of a block device, a tmpfs with dev, a read-write /sys and the host's disk", async () => {
    const disk = await hostDisk();
    const [major, minor] = disk.dev.split(":");
    expect((await exitCode(`mknod /tmp/blk b ${major} ${minor}`)).code).not.toBe(0);
    expect((await exitCode("mknod /tmp/chr c 1 3")).code).not.toBe(0);
    expect((await exitCode("mkdir -p /tmp/t && mount -t tmpfs -o dev none /tmp/t")).code).not.toBe(0);
    expect((await exitCode("mount -o remount,bind,rw /sys")).code).not.toBe(0);
    expect((await exitCode("touch /sys/kernel/deb-bootc-compose-probe")).code).not.toBe(0);
    expect((await exitCode(`test -e /dev/${disk.name}`)).code).not.toBe(0);
    expect((await exitCode(`head -c 512 /dev/${disk.name} >/dev/null`)).code).not.toBe(0);
    // a device node the tree itself carries (as a hostile package could ship one) opens nothing either
    await runAsRangeRoot("sh", ["-c", `mknod "$1" b ${major} ${minor} 2>/dev/null || true`, "probe", join(tree, "disk")], {});
    expect((await exitCode("head -c 512 /disk >/dev/null")).code).not.toBe(0);
  });

  it("keeps in-image owners in the OCI layers and the OSTree commit", async () => {
    const ids = await imageIds();
    // the host writes a file into the range-owned tree, as customisation does
    await new ImageRoot(tree, { ids }).writeFile("etc/deb-bootc-compose-probe", "probe\n", { mode: 0o600 });
    const layout = join(work, "oci");
    const result = await writeOciImage({
      rootfs: tree,
      layout,
      tag: "probe",
      sourceDateEpoch: 0,
      ids,
      xattrs: await readXattrs(tree, { ids }),
    });
    const headers: string[] = [];
    for (const layer of result.layers) {
      const listing = await run("tar", ["-tvzf", blobPath(layout, layer.descriptor.digest), "--numeric-owner"]);
      headers.push(...listing.stdout.trim().split("\n"));
    }
    expect(headers.find((l) => l.endsWith(" usr/bin/mount"))).toMatch(/ 0\/0 /);
    expect(headers.find((l) => l.endsWith(" etc/deb-bootc-compose-probe"))).toMatch(/^-rw------- 0\/0 /);
    expect(headers.find((l) => l.endsWith(" etc/shadow"))).toMatch(/ 0\/42 /);
    expect(headers.filter((l) => new RegExp(` ${ids.uid}/| ${Math.floor(ids.uid / 1000)}\\d{3}/`).test(l))).toEqual([]);

    const repo = join(work, "repo");
    const commit = await commitTree({ tree, repo, ref: "probe", subject: "probe", metadata: {} });
    const ls = await runrootScript(
      'ostree ls --repo=/repo "$1" /usr/bin/mount /usr/etc/shadow /usr/etc/deb-bootc-compose-probe',
      [commit.commit],
      { binds: [{ source: repo, target: "/repo", readOnly: true }] },
    );
    const lines = ls.trim().split("\n");
    expect(lines.find((l) => l.endsWith("/usr/bin/mount"))).toMatch(/^-\d+ 0 0 /);
    expect(lines.find((l) => l.endsWith("/usr/etc/shadow"))).toMatch(/^-\d+ 0 42 /);
    expect(lines.find((l) => l.endsWith("/usr/etc/deb-bootc-compose-probe"))).toMatch(/^-00600 0 0 /);
  });
});
