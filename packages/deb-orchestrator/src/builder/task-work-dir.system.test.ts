import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { currentProcessOwner, pathExists, run } from "@debian-bootc/core";
import { afterEach, describe, expect, it } from "vitest";
import { removeTaskWorkDir, sweepStaleTaskWorkDirs } from "./task-work-dir.js";

describe("removing a task's work directory (root)", () => {
  let root: string;
  afterEach(async () => {
    await run("umount", ["--recursive", "--lazy", root]).catch(() => {});
    await rm(root, { recursive: true, force: true });
  });

  const mounted = async (dir: string) => (await readFile("/proc/self/mountinfo", "utf8")).includes(dir);

  it("detaches a mount the command left in W before removing W, so the mounted tree is untouched", async () => {
    root = await mkdtemp(join(tmpdir(), "task-work-dir-mounts-"));
    const host = join(root, "host tree");
    await mkdir(host);
    await writeFile(join(host, "precious"), "keep me");
    // a command killed mid-phase: its bind mount of a host tree (with a space, escaped in mountinfo) stays in W
    const w = join(root, "w");
    const target = join(w, "compose", "rootfs dir");
    await mkdir(target, { recursive: true });
    await run("mount", ["--bind", host, target]);
    expect(await removeTaskWorkDir(w)).toBe(true);
    expect(await readFile(join(host, "precious"), "utf8")).toBe("keep me");
    await expect(readFile(join(w, "compose", "rootfs dir", "precious"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(await mounted(w)).toBe(false);
  });

  it("sweeps a killed builder's W with a tmpfs still mounted in it: detached, W gone; a live builder's W kept", async () => {
    root = await mkdtemp(join(tmpdir(), "task-work-dir-sweep-"));
    const me = await currentProcessOwner();
    // the builder that made this W was SIGKILLed, and so was its command: the runroot's tmpfs stays mounted
    const stale = join(root, "task-7-gone");
    const runroot = join(stale, "compose", "runroot", "tmp");
    await mkdir(runroot, { recursive: true });
    await writeFile(join(stale, "owner.json"), JSON.stringify({ ...me, pid: spawnSync("true").pid, pidStart: "1" }));
    await run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", runroot]);
    await writeFile(join(runroot, "scratch"), "x");
    const live = join(root, "task-8-live");
    await mkdir(join(live, "out"), { recursive: true });
    await writeFile(join(live, "owner.json"), JSON.stringify(me));

    expect(await sweepStaleTaskWorkDirs(root)).toEqual([stale]);
    expect(await mounted(stale)).toBe(false);
    expect(await pathExists(stale)).toBe(false);
    expect(await pathExists(join(live, "out"))).toBe(true);
  });
});
