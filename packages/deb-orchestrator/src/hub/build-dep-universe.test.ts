import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { createTarget, submitBuild, waitForTask, writeSourcePackage } from "../testing/test-builds.js";
import { startNoopBuilder, startTestHub, type TestHub, useBuilders, useDatabases } from "../testing/test-hub.js";
import { BuildDepUniverses } from "./build-dep-universe.js";

const databases = useDatabases();

/**
 * The external index is read once per Release: a tag repository the test hub publishes (signed with its
 * key) stands in for Debian, as a file:// external repository verified with that key.
 */
describe("build-dependency universes", () => {
  let test: TestHub | undefined;
  const builders = useBuilders(() => test);

  it("read an external index once per Release, from memory and then from the disk cache", async () => {
    test = await startTestHub(databases, "sqlite");
    builders.push(await startNoopBuilder(test, "b1"));
    await createTarget(test.admin);
    const source = await writeSourcePackage(test.dir, "libbase", "1.0-1");
    expect((await waitForTask(test.admin, await submitBuild(test.admin, "t", source))).state).toBe("closed");
    const { ctx } = test.hub;
    const keyring = join(test.dir, "hub-key.asc");
    await writeFile(keyring, ctx.repoPublicKey!);
    const repoDir = join(ctx.dataDir, "repos", "dest", "latest");
    const external = { name: "ext", url: pathToFileURL(repoDir).href, suite: "dest", components: "main" };
    const cacheDir = await mkdtemp(join(tmpdir(), "index-cache-"));
    let clock = 1_000_000;
    const open = () => new BuildDepUniverses({ dataDir: ctx.dataDir, cacheDir, keyring, releaseTtlMs: 60_000, now: () => clock });
    const tag = await ctx.db.selectFrom("tags").select(["id", "name"]).where("name", "=", "base").executeTakeFirstOrThrow();
    try {
      const universes = open();
      const first = await universes.forTag(ctx, tag, "amd64", [external]);
      expect(first?.searched).toEqual(["ext/dest"]);
      expect(first?.checker.index.packages("libbase").map((p) => p.version)).toEqual(["1.0-1"]);
      expect(await readdir(join(cacheDir, "indexes"))).toHaveLength(1);

      // the index files gone from the repository: nothing downloads them again
      const dists = join(repoDir, "dists", "dest", "main");
      await rm(dists, { recursive: true });
      expect(await universes.forTag(ctx, tag, "amd64", [external])).toBe(first);
      clock += 120_000; // the Release is read again after its time to live: the same hash, the same universe
      expect(await universes.forTag(ctx, tag, "amd64", [external])).toBe(first);
      // a new hub process: from the disk cache
      const again = await open().forTag(ctx, tag, "amd64", [external]);
      expect(again?.checker.index.packages("libbase").map((p) => p.version)).toEqual(["1.0-1"]);
      // no external repository: no base to check against
      expect(await universes.forTag(ctx, tag, "amd64", [])).toBeUndefined();
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });
});
