import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { afterEach, describe, expect, it } from "vitest";
import { removeImageWorkDir } from "./image-work-dir.js";

describe("removing an image task's work directory (root)", () => {
  let root: string;
  afterEach(async () => {
    await run("umount", ["--recursive", "--lazy", join(root, "w")]).catch(() => {});
    await rm(root, { recursive: true, force: true });
  });

  it("detaches a mount the command left in W before removing W, so the mounted tree is untouched", async () => {
    root = await mkdtemp(join(tmpdir(), "image-work-dir-mounts-"));
    const host = join(root, "host tree");
    await mkdir(host);
    await writeFile(join(host, "precious"), "keep me");
    // a command killed mid-phase: its bind mount of a host tree (with a space, escaped in mountinfo) stays in W
    const w = join(root, "w");
    const target = join(w, "compose", "rootfs dir");
    await mkdir(target, { recursive: true });
    await run("mount", ["--bind", host, target]);
    await removeImageWorkDir(w);
    expect(await readFile(join(host, "precious"), "utf8")).toBe("keep me");
    await expect(readFile(join(w, "compose", "rootfs dir", "precious"))).rejects.toMatchObject({ code: "ENOENT" });
    expect((await readFile("/proc/self/mountinfo", "utf8")).includes(w)).toBe(false);
  });
});
