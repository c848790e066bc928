import { lstat, mkdir, mkdtemp, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idRange } from "./id-range.js";
import { copyIntoRange, makeRangeDirs, removeRangeTree, shiftTree } from "./range-fs.js";

// System tier: host-side operations on trees of the id range, as root (setcap, chown).

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "deb-mock-range-fs-"));
});
afterAll(async () => {
  await removeRangeTree(work);
});

const getcap = async (path: string) => (await run("getcap", [path], { debianPackage: "libcap2-bin" })).stdout.trim();

describe("shiftTree", () => {
  it("keeps file capabilities (ping's cap_net_raw) and set-id bits in and out of the range", async () => {
    const tree = join(work, "image");
    await mkdir(join(tree, "usr/bin"), { recursive: true });
    const ping = join(tree, "usr/bin/ping");
    await writeFile(ping, "#!/bin/sh\n", { mode: 0o755 });
    await run("setcap", ["cap_net_raw+ep", ping], { debianPackage: "libcap2-bin" });
    const su = join(tree, "usr/bin/su");
    await writeFile(su, "#!/bin/sh\n", { mode: 0o4755 });
    const range = await idRange();

    await shiftTree(tree, "in");
    expect((await lstat(ping)).uid).toBe(range.uid.start);
    expect(await getcap(ping)).toBe(`${ping} cap_net_raw=ep`);
    expect((await lstat(su)).mode & 0o7777).toBe(0o4755);

    await shiftTree(tree, "out");
    expect((await lstat(ping)).uid).toBe(0);
    expect(await getcap(ping)).toBe(`${ping} cap_net_raw=ep`);
    expect((await lstat(su)).mode & 0o7777).toBe(0o4755);
  });
});

describe("copyIntoRange", () => {
  it("copies a symbolic link as it is: a relative link stays relative, never a host path", async () => {
    const source = join(work, "source");
    await mkdir(join(source, "debian"), { recursive: true });
    await writeFile(join(source, "debian/real"), "x\n");
    await symlink("real", join(source, "debian/link"));
    await symlink("../debian/real", join(source, "debian/up-link"));
    await makeRangeDirs(work, ["into"]);
    await copyIntoRange([{ from: source, to: join(work, "into/source") }], { uid: 1000, gid: 1000 });
    expect(await readlink(join(work, "into/source/debian/link"))).toBe("real");
    expect(await readlink(join(work, "into/source/debian/up-link"))).toBe("../debian/real");
    expect((await lstat(join(work, "into/source/debian/real"))).uid).toBe((await idRange()).uid.start + 1000);
    await rm(join(work, "into"), { recursive: true });
  });
});
