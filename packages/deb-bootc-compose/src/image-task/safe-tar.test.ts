import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractTarSafely } from "./safe-tar.js";

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "safe-tar-"));
  await mkdir(join(work, "src", "repo", "objects"), { recursive: true });
  await writeFile(join(work, "src", "repo", "config"), "[core]\nmode=archive-z2\n");
  await writeFile(join(work, "src", "outside"), "secret\n");
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

let n = 0;
async function tarOf(args: string[]): Promise<string> {
  const file = join(work, `t${n++}.tar`);
  await run("tar", ["--create", "--file", file, "--directory", join(work, "src"), ...args]);
  return file;
}

describe("unpacking a tar from a builder", () => {
  it("unpacks files and directories into a fresh directory", async () => {
    const into = join(work, "ok");
    expect(await extractTarSafely(await tarOf(["repo"]), into)).toBe(3);
    expect(await readFile(join(into, "repo", "config"), "utf8")).toContain("archive-z2");
  });

  it("refuses a member that climbs out, a symbolic link and a fifo, and unpacks nothing of them", async () => {
    const climbing = await tarOf(["--transform", "s,^outside,../escaped,", "outside"]);
    const into = join(work, "climb");
    await expect(extractTarSafely(climbing, into)).rejects.toMatchObject({ code: "IMAGE_RESULT_REFUSED" });
    expect(existsSync(join(work, "escaped"))).toBe(false);

    await symlink("/etc/shadow", join(work, "src", "repo", "link"));
    const linked = await tarOf(["repo"]);
    await rm(join(work, "src", "repo", "link"));
    await expect(extractTarSafely(linked, join(work, "link"))).rejects.toMatchObject({
      code: "IMAGE_RESULT_REFUSED",
      message: expect.stringContaining("symlink"),
    });
    expect(existsSync(join(work, "link"))).toBe(false);

    await run("mkfifo", [join(work, "src", "fifo")]);
    const fifo = await tarOf(["fifo"]);
    await expect(extractTarSafely(fifo, join(work, "fifo"))).rejects.toMatchObject({ code: "IMAGE_RESULT_REFUSED" });
  });

  it("refuses to unpack into a directory that holds something", async () => {
    const into = join(work, "full");
    await mkdir(into);
    await writeFile(join(into, "x"), "");
    await expect(extractTarSafely(await tarOf(["repo"]), into)).rejects.toThrow(/not empty/);
    expect(await readdir(into)).toEqual(["x"]);
  });
});
