import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { linkPreviousRepository } from "./commit.js";

const REF = "debian-bootc/13.0/amd64/minimal";
const COMMIT = "4380b04c03d58c4d6a1e0b7cbcbb5f0b8b3d9e1f2a3b4c5d6e7f8091a2b3c4d5";
const OBJECT = "objects/43/80b04c03d58c4d6a1e0b7cbcbb5f0b8b3d9e1f2a3b4c5d6e7f8091a2b3c4d5.commit";

/** An archive repository's layout as ostree leaves it after a commit of REF (the files' contents do not matter here). */
async function previousRepository(dir: string, refs: Record<string, string> = { [`heads/${REF}`]: COMMIT }): Promise<string> {
  const repo = join(dir, "previous");
  for (const d of ["objects/43", "refs/heads", "refs/remotes", "refs/mirrors", "tmp/cache", "state", "extensions"])
    await mkdir(join(repo, d), { recursive: true });
  await writeFile(join(repo, "config"), "[core]\nrepo_version=1\nmode=archive-z2\n");
  await writeFile(join(repo, "summary"), "summary");
  await writeFile(join(repo, ".lock"), "");
  await writeFile(join(repo, "tmp/cache/stale"), "x");
  await writeFile(join(repo, OBJECT), "commit object");
  for (const [ref, commit] of Object.entries(refs)) {
    await mkdir(join(repo, "refs", ref, ".."), { recursive: true });
    await writeFile(join(repo, "refs", ref), `${commit}\n`);
  }
  return repo;
}

describe("linkPreviousRepository (a reused commit taken without a runroot)", () => {
  const scratch = useTempDir("ostree-link-");

  it("hard-links the objects of a repository holding just that ref, copies the rest, leaves its lock and tmp", async () => {
    const previous = await previousRepository(scratch());
    const repo = join(scratch(), "compose", "repo");
    expect(await linkPreviousRepository({ repo, ref: REF, previousRepo: previous, commit: COMMIT })).toBe(true);
    expect((await readFile(join(repo, "refs/heads", REF), "utf8")).trim()).toBe(COMMIT);
    expect((await stat(join(repo, OBJECT))).ino).toBe((await stat(join(previous, OBJECT))).ino);
    for (const file of ["config", "summary", `refs/heads/${REF}`])
      expect((await stat(join(repo, file))).ino).not.toBe((await stat(join(previous, file))).ino);
    expect((await readdir(repo)).sort()).toEqual(["config", "extensions", "objects", "refs", "state", "summary", "tmp"]);
    expect(await readdir(join(repo, "tmp"))).toEqual([]);
  });

  it("takes nothing when the ref there is another commit (moved since), and the caller pulls", async () => {
    const previous = await previousRepository(scratch(), { [`heads/${REF}`]: "f".repeat(64) });
    const repo = join(scratch(), "repo");
    expect(await linkPreviousRepository({ repo, ref: REF, previousRepo: previous, commit: COMMIT })).toBe(false);
    expect(await readdir(repo).catch(() => [])).toEqual([]);
  });

  it("takes nothing when the previous repository holds another ref too (it would be carried over)", async () => {
    for (const other of ["heads/debian-bootc/13.0/amd64/other", "remotes/origin/x"]) {
      const previous = await previousRepository(join(scratch(), other.replaceAll("/", "-")), {
        [`heads/${REF}`]: COMMIT,
        [other]: COMMIT,
      });
      const repo = join(scratch(), "repo");
      expect(await linkPreviousRepository({ repo, ref: REF, previousRepo: previous, commit: COMMIT })).toBe(false);
      expect(await readdir(repo).catch(() => [])).toEqual([]);
    }
  });

  it("takes nothing into a repository that is not empty", async () => {
    const previous = await previousRepository(scratch());
    const repo = join(scratch(), "repo");
    await mkdir(repo, { recursive: true });
    await writeFile(join(repo, "config"), "[core]\n");
    expect(await linkPreviousRepository({ repo, ref: REF, previousRepo: previous, commit: COMMIT })).toBe(false);
    expect(await readdir(repo)).toEqual(["config"]);
  });
});
