import { existsSync } from "node:fs";
import { chmod, chown, copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { listNonDirectories } from "./deps-layer.js";
import type { ProgressEvent } from "./events.js";
import { init } from "./init.js";
import { type RunInEnvironmentResult, runInEnvironment } from "./run-in-environment.js";

// System tier: runroots (runInEnvironment) with archive packages, over the cached trixie base. Needs root,
// bubblewrap and the mirror. `tree` and `pv` are small packages no other test installs; the file leaves two
// layers in the cache (tree; tree and pv).

interface Call {
  result: RunInEnvironmentResult;
  events: ProgressEvent[];
}

async function call(packages: string[], command: string[]): Promise<Call> {
  const events: ProgressEvent[] = [];
  const result = await runInEnvironment({ packages, commands: [command], onEvent: (e) => events.push(e) });
  return { result, events };
}

/** The commands that ran in the snapshot, as root.log records them. */
const commandsRun = (c: Call) => c.result.rootLog.filter((l) => / run as root[^:]*: /.test(l)).map((l) => l.slice(l.indexOf(": ") + 2));

/** Forget the layer of a package set (a previous run of this file made it): the next call must make it. */
async function dropLayer(packages: string[]): Promise<void> {
  const { result } = await call(packages, ["true"]);
  const dir = result.packagesLayer?.dir;
  expect(dir).toMatch(/\/deps\/[0-9a-f]{64}\/layer$/);
  await rm(dirname(dir!), { recursive: true, force: true });
}

beforeAll(async () => {
  await init({});
});

describe("runInEnvironment's package layers", () => {
  it("installs a package set once into a layer; the next call stacks it without running apt, and the tool works", async () => {
    await dropLayer(["tree"]);

    const first = await call(["tree"], ["tree", "--version"]);
    expect(first.result.results[0]!.stdout).toMatch(/^tree v\d/);
    expect(first.result.packagesLayer).toMatchObject({ reused: false });
    const layer = first.result.packagesLayer!;
    expect(first.events).toContainEqual({ type: "deps-layer", key: layer.key, dir: layer.dir, action: "created" });
    expect(commandsRun(first).some((c) => /^(eatmydata )?apt-get .* install tree$/.test(c) && !c.includes("--print-uris"))).toBe(true);
    // the layer holds the package's files and dpkg's record of it
    const files = await listNonDirectories(layer.dir);
    expect(files).toContain("usr/bin/tree");
    expect(files).toContain("var/lib/dpkg/status");
    const inode = (await stat(layer.dir)).ino;

    const second = await call(["tree"], ["tree", "--version"]);
    expect(second.result.results[0]!.stdout).toBe(first.result.results[0]!.stdout);
    expect(second.result.packagesLayer).toEqual({ key: layer.key, dir: layer.dir, reused: true, planFromMemo: true });
    expect(second.events).toContainEqual({ type: "deps-layer", key: layer.key, dir: layer.dir, action: "reused" });
    // neither apt's planning nor an installation ran: only the command itself
    expect(commandsRun(second)).toEqual(["tree --version"]);
    expect(second.result.rootLog.join("\n")).not.toMatch(/apt-get/);
    expect((await stat(layer.dir)).ino).toBe(inode);
    expect(existsSync(dirname(layer.dir))).toBe(true);
  });

  it("gives another package set another layer, where both tools work", async () => {
    const tree = await call(["tree"], ["tree", "--version"]);
    const both = await call(["tree", "pv"], ["sh", "-c", "tree --version && pv --version"]);
    expect(both.result.results[0]!.stdout).toMatch(/^tree v\d[\s\S]*\npv \d/);
    expect(both.result.packagesLayer?.key).toMatch(/^[0-9a-f]{64}$/);
    expect(both.result.packagesLayer!.key).not.toBe(tree.result.packagesLayer!.key);
    expect(both.result.packagesLayer!.dir).not.toBe(tree.result.packagesLayer!.dir);
    expect(await listNonDirectories(both.result.packagesLayer!.dir)).toEqual(expect.arrayContaining(["usr/bin/tree", "usr/bin/pv"]));
  });

  it("survives two calls installing the same new set at once: both work, one layer is published, no temporary left", async () => {
    const set = ["tree", "pv"];
    await dropLayer(set);
    const [a, b] = await Promise.all([call(set, ["pv", "--version"]), call(set, ["pv", "--version"])]);
    for (const c of [a, b]) expect(c.result.results[0]!.stdout).toMatch(/^pv \d/);
    expect(a.result.packagesLayer!.key).toBe(b.result.packagesLayer!.key);
    const key = a.result.packagesLayer!.key;
    const published = [a, b].map((c) => c.result.packagesLayer!.dir).filter((d) => d.endsWith(`/deps/${key}/layer`));
    expect(published.length).toBeGreaterThanOrEqual(1); // two when the second call found the first one's layer
    expect(new Set(published).size).toBe(1);
    const depsDir = dirname(dirname(published[0]!));
    expect((await readdir(depsDir)).filter((e) => e.startsWith(`.${key}`))).toEqual([]);
    const next = await call(set, ["pv", "--version"]);
    expect(next.result.packagesLayer).toMatchObject({ key, dir: published[0], reused: true });
    expect(basename(dirname(next.result.packagesLayer!.dir))).toBe(key);
  });
});

describe("runInEnvironment's bind mounts", () => {
  it("reach a tree below a private directory; the commands see its real owners and it keeps them on the host", async () => {
    const work = await mkdtemp(join(tmpdir(), "deb-mock-binds-")); // 0700, root's
    const tree = join(work, "tree");
    const repo = join(work, "repo");
    await mkdir(join(tree, "etc"), { recursive: true });
    await mkdir(repo);
    await writeFile(join(tree, "etc/shadow"), "secret\n", { mode: 0o600 });
    await chown(join(tree, "etc/shadow"), 0, 42);
    await copyFile("/bin/true", join(tree, "su"));
    await chmod(join(tree, "su"), 0o4755);
    const { results } = await runInEnvironment({
      packages: ["ostree"],
      binds: [
        { source: tree, target: "/tree", readOnly: true },
        { source: repo, target: "/repo" },
      ],
      commands: [
        ["ostree", "init", "--repo=/repo", "--mode=archive"],
        ["ostree", "commit", "--repo=/repo", "--branch=t", "--tree=dir=/tree"],
        ["ostree", "ls", "--repo=/repo", "t", "/etc/shadow", "/su"],
      ],
    });
    // the commit holds the tree's own owners and modes (root 0, group 42, set-uid kept)
    expect(results[2]!.stdout).toMatch(/^-00600 0 42 +7 \/etc\/shadow$/m);
    expect(results[2]!.stdout).toMatch(/^-04755 0 0 +\d+ \/su$/m);
    // and on the host the tree has them again; what the commands wrote belongs to root, not to the range
    const shadow = await stat(join(tree, "etc/shadow"));
    expect([shadow.uid, shadow.gid, shadow.mode & 0o7777]).toEqual([0, 42, 0o600]);
    expect((await stat(join(tree, "su"))).mode & 0o7777).toBe(0o4755);
    expect((await stat(join(repo, "config"))).uid).toBe(0);
    await rm(work, { recursive: true, force: true });
  });
});
