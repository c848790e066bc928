import { existsSync } from "node:fs";
import { mkdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../test/temp-dir.js";
import { pruneDepsLayers } from "./base-cache.js";

describe("pruneDepsLayers", () => {
  const deps = useTempDir("deb-mock-deps-");

  async function layer(name: string, usedSecondsAgo: number): Promise<string> {
    const dir = join(deps(), name);
    await mkdir(join(dir, "layer/usr/bin"), { recursive: true });
    await writeFile(join(dir, "meta.json"), "{}\n");
    const t = new Date(Date.now() - usedSecondsAgo * 1000);
    await utimes(join(dir, "meta.json"), t, t);
    return dir;
  }

  it("keeps the most recently used layers and those in use, and removes the rest", async () => {
    const a = await layer("a", 10);
    const b = await layer("b", 20);
    const c = await layer("c", 30);
    const d = await layer("d", 40);
    const removed = await pruneDepsLayers(deps(), 2, new Set([join(d, "layer")]));
    expect(removed).toEqual([c]);
    expect([a, b, c, d].map((x) => existsSync(x))).toEqual([true, true, false, true]);
  });

  it("removes every unused layer when the limit is 0, and temporary directories only once they are an hour old", async () => {
    const a = await layer("a", 10);
    const fresh = join(deps(), ".k1.tmp-123");
    const old = join(deps(), ".k2.tmp-456");
    await mkdir(fresh);
    await mkdir(old);
    const hourAgo = new Date(Date.now() - 3_700_000);
    await utimes(old, hourAgo, hourAgo);
    expect((await pruneDepsLayers(deps(), 0, new Set())).sort()).toEqual([old, a].sort());
    expect(existsSync(fresh)).toBe(true);
  });

  it("does nothing when the generation has no layers", async () => {
    expect(await pruneDepsLayers(join(deps(), "missing"), 8, new Set())).toEqual([]);
  });
});
