import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { reuseCommit } from "./commit.js";
import { runrootProfile, runrootScript } from "./runroot.js";

const REF = "debian-bootc/test/amd64/minimal";
const profile = runrootProfile("trixie", "amd64");

/** ostree in the runroot, on a scratch directory bound at /w. */
function ostree(dir: string, script: string, ...args: string[]) {
  return runrootScript(script, args, { profile, binds: [{ source: dir, target: "/w" }] });
}

/** An archive repository (as a builder uploads it) holding one small commit of REF. */
async function uploadedRepository(dir: string): Promise<{ repo: string; commit: string }> {
  const repo = join(dir, "uploaded");
  await mkdir(join(dir, "tree", "usr", "share"), { recursive: true });
  await writeFile(join(dir, "tree", "usr", "share", "hello"), "hello from a builder\n");
  await ostree(
    dir,
    'ostree init --repo=/w/uploaded --mode=archive && ostree commit --repo=/w/uploaded --branch="$1" /w/tree >/dev/null',
    REF,
  );
  const commit = (await readFile(join(repo, "refs", "heads", REF), "utf8")).trim();
  return { repo, commit };
}

/** Every file object (.filez) of an archive repository. */
async function fileObjects(repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const prefix of await readdir(join(repo, "objects")))
    for (const name of await readdir(join(repo, "objects", prefix)))
      if (name.endsWith(".filez")) out.push(join(repo, "objects", prefix, name));
  return out;
}

describe("reuseCommit of a repository another host uploaded (untrusted)", () => {
  const scratch = useTempDir("ostree-untrusted-");

  it("pulls an intact commit, and refuses one whose file object was changed under its name", async () => {
    await chmod(scratch(), 0o755); // the image sandbox's root enters it
    const intact = await uploadedRepository(join(scratch(), "intact"));
    const repo = join(scratch(), "compose-repo");
    expect(await reuseCommit({ repo, ref: REF, previousRepo: intact.repo, commit: intact.commit, profile, untrusted: true })).toBe(true);
    expect((await readFile(join(repo, "refs", "heads", REF), "utf8")).trim()).toBe(intact.commit);

    const crafted = await uploadedRepository(join(scratch(), "crafted"));
    const [object] = await fileObjects(crafted.repo);
    if (!object) throw new Error("the commit has no file object");
    // another file's compressed content under the original object's name
    const craftedDir = join(scratch(), "crafted");
    await mkdir(join(craftedDir, "other-tree"), { recursive: true });
    await writeFile(join(craftedDir, "other-tree", "payload"), "a crafted payload\n");
    await ostree(craftedDir, "ostree commit --repo=/w/uploaded --branch=other /w/other-tree >/dev/null");
    const other = (await fileObjects(crafted.repo)).find((f) => f !== object);
    if (!other) throw new Error("no second file object");
    await writeFile(object, await readFile(other));
    await ostree(craftedDir, "ostree refs --repo=/w/uploaded --delete other");
    const target = join(scratch(), "compose-repo-2");
    await expect(
      reuseCommit({ repo: target, ref: REF, previousRepo: crafted.repo, commit: crafted.commit, profile, untrusted: true }),
    ).rejects.toThrow(/OSTREE_FAILED|checksum|Corrupted/i);
    expect(await readFile(join(target, "refs", "heads", REF), "utf8").catch(() => "")).toBe("");
  });
});
