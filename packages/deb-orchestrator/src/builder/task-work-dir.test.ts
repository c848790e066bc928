import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { currentProcessOwner, type ProcessOwner, pathExists } from "@debian-bootc/core";
import { afterEach, describe, expect, it } from "vitest";
import { makeTaskWorkDir, sweepStaleTaskWorkDirs } from "./task-work-dir.js";

describe("task work directories left by builders that are gone", () => {
  let root: string;
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** A W with some work in it, marked as owned by `owner`. */
  async function workDir(name: string, owner: ProcessOwner): Promise<string> {
    const dir = join(root, "work", name);
    await mkdir(join(dir, "out"), { recursive: true });
    await writeFile(join(dir, "out", "disk.qcow2"), "image");
    await writeFile(join(dir, "owner.json"), JSON.stringify(owner));
    return dir;
  }

  it("marks W as this process's before anything is in it, and never reuses a W that exists", async () => {
    root = await mkdtemp(join(tmpdir(), "task-work-dir-"));
    const dir = join(root, "work", "task-1-s");
    await makeTaskWorkDir(dir);
    expect(await readdir(dir)).toEqual(["owner.json"]);
    expect(JSON.parse(await readFile(join(dir, "owner.json"), "utf8"))).toEqual(await currentProcessOwner());
    await expect(makeTaskWorkDir(dir)).rejects.toMatchObject({ code: "EEXIST" });
    // its own builder's sweep keeps it
    expect(await sweepStaleTaskWorkDirs(join(root, "work"))).toEqual([]);
  });

  it("removes W whose owner is dead or whose PID was reused, and keeps W of a live owner", async () => {
    root = await mkdtemp(join(tmpdir(), "task-work-dir-"));
    const me = await currentProcessOwner();
    const live = await workDir("task-1-live", me);
    const dead = await workDir("task-2-dead", { ...me, pid: spawnSync("true").pid, pidStart: "1" });
    // this very PID, recorded for a process that started at another time: the PID was recycled
    const reused = await workDir("task-3-reused", { ...me, pidStart: String(Number(me.pidStart) - 1) });
    const earlierBoot = await workDir("task-4-boot", { ...me, boot: "00000000-0000-0000-0000-000000000000" });
    expect((await sweepStaleTaskWorkDirs(join(root, "work"))).sort()).toEqual([dead, reused, earlierBoot]);
    expect(await readdir(join(root, "work"))).toEqual(["task-1-live"]);
    expect(await readFile(join(live, "out", "disk.qcow2"), "utf8")).toBe("image");
  });

  it("gives an unmarked W a minute (its builder is between mkdir and the mark), then removes it", async () => {
    root = await mkdtemp(join(tmpdir(), "task-work-dir-"));
    const fresh = join(root, "work", "task-1-fresh");
    const old = join(root, "work", "task-2-old");
    await mkdir(fresh, { recursive: true });
    await mkdir(old);
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    await utimes(old, twoMinutesAgo, twoMinutesAgo);
    expect(await sweepStaleTaskWorkDirs(join(root, "work"))).toEqual([old]);
    expect(await pathExists(fresh)).toBe(true);
  });

  it("never follows a symlink out of W or out of the work directory", async () => {
    root = await mkdtemp(join(tmpdir(), "task-work-dir-"));
    const me = await currentProcessOwner();
    const deadOwner = { ...me, pid: spawnSync("true").pid, pidStart: "1" };
    const outside = join(root, "outside");
    await mkdir(join(outside, "tree"), { recursive: true });
    await writeFile(join(outside, "tree", "precious"), "keep me");
    await writeFile(join(outside, "owner.json"), JSON.stringify(deadOwner));
    // a dead builder's W with links to the outside tree, a directory and a file
    const dead = await workDir("task-1-dead", deadOwner);
    await symlink(join(outside, "tree"), join(dead, "out", "tree"));
    await symlink(join(outside, "tree", "precious"), join(dead, "precious"));
    // a task-* entry that is a link to a directory marked by a dead owner
    await symlink(outside, join(root, "work", "task-2-link"));
    expect(await sweepStaleTaskWorkDirs(join(root, "work"))).toEqual([dead]);
    expect(await readFile(join(outside, "tree", "precious"), "utf8")).toBe("keep me");
    expect(await pathExists(join(outside, "owner.json"))).toBe(true);
    expect(await readdir(join(root, "work"))).toEqual(["task-2-link"]);
  });

  it("takes a mark that is a symlink for no mark: a live owner's W is not removed through a link to a dead owner", async () => {
    root = await mkdtemp(join(tmpdir(), "task-work-dir-"));
    const me = await currentProcessOwner();
    const dir = await workDir("task-1-linked", me);
    await writeFile(join(root, "dead.json"), JSON.stringify({ ...me, pid: spawnSync("true").pid, pidStart: "1" }));
    await rm(join(dir, "owner.json"));
    await symlink(join(root, "dead.json"), join(dir, "owner.json"));
    // W's mtime is now: within the unmarked grace
    expect(await sweepStaleTaskWorkDirs(join(root, "work"))).toEqual([]);
    expect(await pathExists(dir)).toBe(true);
  });
});
