import { chown, lchown, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { afterEach, describe, expect, it } from "vitest";
import { blobPath } from "./blob-store.js";
import { writeOciImage } from "./image-writer.js";
import { imageFileCapability, scanRootfs } from "./rootfs-scan.js";

const isRoot = process.getuid?.() === 0;
const ids = { uid: 100000, gid: 100000, count: 65536 };

/** A vfs_cap_data of revision 3 (cap_net_raw+ep) naming `rootid`, as setcap in a user namespace stores it. */
function capV3(rootid: number): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(0x03000001, 0); // revision 3, effective
  b.writeUInt32LE(1 << 13, 4); // permitted: CAP_NET_RAW
  b.writeUInt32LE(rootid, 20);
  return b;
}

describe("imageFileCapability", () => {
  it("turns a capability set as the range's root into the revision 2 form, keeping the sets", () => {
    const v2 = imageFileCapability(capV3(100000), ids);
    expect(v2.length).toBe(20);
    expect(v2.readUInt32LE(0)).toBe(0x02000001);
    expect(v2.readUInt32LE(4)).toBe(1 << 13);
  });

  it("leaves other namespaces' capabilities, revision 2 ones and unshifted trees alone", () => {
    expect(imageFileCapability(capV3(200000), ids)).toEqual(capV3(200000));
    const v2 = Buffer.alloc(20);
    v2.writeUInt32LE(0x02000001, 0);
    expect(imageFileCapability(v2, ids)).toEqual(v2);
    expect(imageFileCapability(capV3(100000), undefined)).toEqual(capV3(100000));
  });
});

let work: string | undefined;
afterEach(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  work = undefined;
});

describe.runIf(isRoot)("a tree owned by a subordinate range", () => {
  it("is scanned and written into layers with the image's own owners", async () => {
    work = await mkdtemp(join(tmpdir(), "scan-ids-"));
    const root = join(work, "tree");
    await mkdir(join(root, "etc"), { recursive: true });
    await mkdir(join(root, "home/me"), { recursive: true });
    await writeFile(join(root, "etc/shadow"), "root:*:1::::::\n", { mode: 0o640 });
    await writeFile(join(root, "home/me/notes"), "mine\n");
    await symlink("notes", join(root, "home/me/link"));
    for (const p of ["", "etc", "home", "home/me"]) await chown(join(root, p), 100000, 100000);
    await chown(join(root, "etc/shadow"), 100000, 100042);
    await chown(join(root, "home/me/notes"), 101000, 101000);
    await lchown(join(root, "home/me/link"), 101000, 101000);
    const owners = Object.fromEntries((await scanRootfs(root, { ids })).map((e) => [e.path, `${e.uid}:${e.gid}`]));
    expect(owners).toEqual({
      etc: "0:0",
      "etc/shadow": "0:42",
      home: "0:0",
      "home/me": "0:0",
      "home/me/link": "1000:1000",
      "home/me/notes": "1000:1000",
    });
    const layout = join(work, "layout");
    const result = await writeOciImage({ rootfs: root, layout, tag: "x", sourceDateEpoch: 0, ids });
    const listing = [];
    for (const layer of result.layers) {
      listing.push(
        ...(await run("tar", ["-tvzf", blobPath(layout, layer.descriptor.digest), "--numeric-owner"])).stdout.trim().split("\n"),
      );
    }
    expect(listing.find((l) => l.endsWith(" etc/shadow"))).toMatch(/^-rw-r----- 0\/42 /);
    expect(listing.find((l) => l.endsWith(" home/me/notes"))).toMatch(/^-rw-r--r-- 1000\/1000 /);
    expect(listing.filter((l) => / 10\d{4}\//.test(l))).toEqual([]);
  });
});
