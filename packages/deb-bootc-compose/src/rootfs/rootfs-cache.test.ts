import { lstat, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { type CachedTreeEntry, newTreeId, RootfsCache } from "./rootfs-cache.js";
import type { TreeKeyInputs } from "./tree-key.js";

const work = useTempDir("rootfs-cache-");

const key = (c: string) => c.repeat(64);

/** A small tree: a file, a nested file, a symlink-free etc. */
async function tree(name: string, content: string): Promise<string> {
  const root = join(work(), name);
  await mkdir(join(root, "etc"), { recursive: true });
  await mkdir(join(root, "usr/lib"), { recursive: true });
  await writeFile(join(root, "etc/os-release"), content);
  await writeFile(join(root, "usr/lib/data"), `${content}-data`);
  return root;
}

function entry(k: string, composeId = "c-13.0-20260101.0"): CachedTreeEntry {
  return {
    key: k,
    treeId: newTreeId(k),
    createdAt: new Date().toISOString(),
    composeId,
    kver: "6.12.0-1-amd64",
    durations: { mmdebstrap: 1 },
    inputs: { code: "test" } as TreeKeyInputs,
  };
}

describe("the rootfs cache", () => {
  it("publishes a tree atomically and checks it out as a private copy sharing file inodes", async () => {
    const cache = new RootfsCache(join(work(), "cache"));
    const built = await tree("built", "one");
    expect(await cache.checkout(key("a"), join(work(), "view-0"))).toBeUndefined();
    const e = entry(key("a"));
    expect(await cache.publish(built, e)).toEqual({ pruned: [] });
    expect(await readdir(cache.dir)).toEqual(expect.arrayContaining([key("a")]));
    expect((await readdir(cache.dir)).filter((n) => n.startsWith(".tmp-") || n.startsWith(".old-"))).toEqual([]);

    const view = join(work(), "compose/work/amd64/minimal/rootfs");
    const got = await cache.checkout(key("a"), view);
    expect(got).toEqual(e);
    expect(await readFile(join(view, "etc/os-release"), "utf8")).toBe("one");
    const cached = join(cache.dir, key("a"), "tree");
    expect((await stat(join(view, "usr/lib/data"))).ino).toBe((await stat(join(cached, "usr/lib/data"))).ino);
    // what later phases do to their view (the ostree commit's /etc -> /usr/etc) leaves the cached tree alone
    await rename(join(view, "etc"), join(view, "usr/etc"));
    expect((await lstat(join(cached, "etc"))).isDirectory()).toBe(true);
    await expect(lstat(join(cached, "usr/etc"))).rejects.toThrow();
    // removing the view does not remove the cached tree's files
    await rm(view, { recursive: true });
    expect(await readFile(join(cached, "usr/lib/data"), "utf8")).toBe("one-data");
  });

  it("never trusts a directory without entry.json or with another key, and clears leftovers of killed composes", async () => {
    const cache = new RootfsCache(join(work(), "cache"));
    // a killed publish: the temporary directory, and an entry renamed into place without its entry.json
    await mkdir(join(cache.dir, ".tmp-999-deadbeef/tree/etc"), { recursive: true });
    await mkdir(join(cache.dir, key("b"), "tree"), { recursive: true });
    expect(await cache.checkout(key("b"), join(work(), "v"))).toBeUndefined();
    await mkdir(join(cache.dir, key("c"), "tree"), { recursive: true });
    await writeFile(join(cache.dir, key("c"), "entry.json"), JSON.stringify(entry(key("d"))));
    expect(await cache.checkout(key("c"), join(work(), "v"))).toBeUndefined();
    await expect(lstat(join(work(), "v"))).rejects.toThrow();

    await cache.publish(await tree("t", "x"), entry(key("e")));
    const names = await readdir(cache.dir);
    expect(names.filter((n) => n.startsWith(".tmp-"))).toEqual([]);
  });

  it("replaces the entry of a key republished (a fresh build) and keeps the tree whole for earlier views", async () => {
    const cache = new RootfsCache(join(work(), "cache"));
    await cache.publish(await tree("first", "first"), entry(key("a"), "c.0"));
    const earlier = join(work(), "earlier");
    await cache.checkout(key("a"), earlier);
    const second = entry(key("a"), "c.1");
    await cache.publish(await tree("second", "second"), second);
    expect((await cache.entry(key("a")))?.treeId).toBe(second.treeId);
    const view = join(work(), "view");
    await cache.checkout(key("a"), view);
    expect(await readFile(join(view, "etc/os-release"), "utf8")).toBe("second");
    expect(await readFile(join(earlier, "etc/os-release"), "utf8")).toBe("first");
    expect((await readdir(cache.dir)).filter((n) => !n.startsWith("."))).toEqual([key("a")]);
  });

  it("prunes to the most recently used entries", async () => {
    const cache = new RootfsCache(join(work(), "cache"), { keep: 2 });
    const src = await tree("t", "x");
    await cache.publish(src, entry(key("a")));
    await cache.publish(src, entry(key("b")));
    // a used long ago, b used before that: then a checkout of a makes it the newest
    const old = new Date(Date.now() - 3_600_000);
    await utimes(join(cache.dir, key("b"), "last-used"), old, old);
    await utimes(join(cache.dir, key("a"), "last-used"), new Date(old.getTime() - 1000), new Date(old.getTime() - 1000));
    await cache.checkout(key("a"), join(work(), "v"));
    expect(await cache.keys()).toEqual([key("a"), key("b")]);
    const { pruned } = await cache.publish(src, entry(key("c")));
    expect(pruned).toEqual([key("b")]);
    expect(await cache.keys()).toEqual([key("c"), key("a")]);
    expect(await cache.entry(key("b"))).toBeUndefined();
    expect((await readdir(cache.dir)).filter((n) => n.startsWith(".old-"))).toEqual([]);
  });

  it("serialises publishes of one key from two composes: both end, one whole entry remains", async () => {
    const cache1 = new RootfsCache(join(work(), "cache"));
    const cache2 = new RootfsCache(join(work(), "cache"));
    const [a, b] = [entry(key("a"), "c.0"), entry(key("a"), "c.1")];
    await Promise.all([cache1.publish(await tree("one", "one"), a), cache2.publish(await tree("two", "two"), b)]);
    const kept = await cache1.entry(key("a"));
    expect([a.treeId, b.treeId]).toContain(kept?.treeId);
    const view = join(work(), "view");
    await cache1.checkout(key("a"), view);
    expect(await readFile(join(view, "etc/os-release"), "utf8")).toBe(kept?.composeId === "c.0" ? "one" : "two");
    expect((await readdir(cache1.dir)).sort()).toEqual([".lock", key("a")]);
  });

  it("refuses, with owners, an entry holding a file outside that id range (a miss), and takes one inside it", async () => {
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const inside = new RootfsCache(join(work(), "cache"), { owners: { uid, gid, count: 1 } });
    await inside.publish(await tree("t", "one"), entry(key("a")));
    expect(await inside.checkout(key("a"), join(work(), "view-inside"))).toBeDefined();
    // the same entry, for a compose whose sandbox owns another range: the caller's files are strangers
    const other = new RootfsCache(join(work(), "cache"), { owners: { uid: uid + 1, gid: gid + 1, count: 65536 } });
    expect(await other.checkout(key("a"), join(work(), "view-other"))).toBeUndefined();
    expect(await readdir(work())).not.toContain("view-other");
  });
});
