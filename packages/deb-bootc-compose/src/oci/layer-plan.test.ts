import { describe, expect, it } from "vitest";
import { expectedChangedBytes, type PackageSize, partitionContiguous, planLayers } from "./layer-plan.js";

/** A deterministic spread of package sizes like a real rootfs: a few large, many small. */
function syntheticPackages(count: number): PackageSize[] {
  const packages: PackageSize[] = [];
  let seed = 12345;
  for (let i = 0; i < count; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const size = i % 25 === 0 ? 5_000_000 + (seed % 40_000_000) : 2_000 + (seed % 400_000);
    packages.push({ name: `pkg-${String(i).padStart(3, "0")}`, size });
  }
  return packages;
}

describe("planLayers", () => {
  it("gives every package its own layer when they fit, plus the unowned layer last", () => {
    const plan = planLayers(
      [
        { name: "b", size: 10 },
        { name: "a", size: 20 },
      ],
      5,
    );
    expect(plan.map((l) => l.packages)).toEqual([["a"], ["b"], []]);
    expect(plan.at(-1)?.unowned).toBe(true);
    expect(plan.at(-1)?.size).toBe(5);
  });

  it("never exceeds the layer budget and places each package exactly once", () => {
    const packages = syntheticPackages(300);
    for (const maxLayers of [2, 5, 17, 64]) {
      const plan = planLayers(packages, 1000, { maxLayers });
      expect(plan.length).toBeLessThanOrEqual(maxLayers);
      const placed = plan.flatMap((l) => l.packages).sort();
      expect(placed).toEqual(packages.map((p) => p.name).sort());
    }
  });

  it("keeps the largest packages alone and packs small ones, beating a naive split", () => {
    const packages = syntheticPackages(300);
    const plan = planLayers(packages, 0, { maxLayers: 64 });
    const largest = [...packages].sort((a, b) => b.size - a.size)[0]!;
    expect(plan.find((l) => l.packages.includes(largest.name))?.packages).toEqual([largest.name]);
    // a naive plan: 63 equal-count chunks in name order
    const naive = [];
    for (let i = 0; i < 63; i++) {
      const chunk = packages.filter((_, j) => j % 63 === i);
      naive.push({ packages: chunk.map((p) => p.name), size: chunk.reduce((s, p) => s + p.size, 0) });
    }
    expect(expectedChangedBytes(plan)).toBeLessThan(expectedChangedBytes(naive));
  });

  it("honours packages forced alone", () => {
    const packages = syntheticPackages(300);
    const plan = planLayers(packages, 0, { maxLayers: 10, alone: ["pkg-007"] });
    expect(plan.find((l) => l.packages.includes("pkg-007"))?.packages).toEqual(["pkg-007"]);
  });

  it("is deterministic and stable when one small package changes size a little", () => {
    const packages = syntheticPackages(300);
    const before = planLayers(packages, 0);
    expect(planLayers([...packages].reverse(), 0)).toEqual(before);
    const grown = packages.map((p) => (p.name === "pkg-101" ? { ...p, size: p.size + 3000 } : p));
    const after = planLayers(grown, 0);
    const key = (l: { packages: string[] }) => l.packages.join(",");
    const beforeKeys = new Set(before.map(key));
    const differing = after.filter((l) => !beforeKeys.has(key(l)));
    expect(differing.length).toBeLessThanOrEqual(1);
  });

  it("keeps a prior plan's groups and places new packages", () => {
    const prior = [["a", "b"], ["c"], ["gone"]];
    const plan = planLayers(
      [
        { name: "a", size: 1 },
        { name: "b", size: 1 },
        { name: "c", size: 100 },
        { name: "new", size: 5 },
      ],
      0,
      { prior, maxLayers: 4 },
    );
    expect(plan.map((l) => l.packages)).toEqual([["a", "b"], ["c"], ["new"], []]);
    const full = planLayers(
      [
        { name: "a", size: 1 },
        { name: "b", size: 1 },
        { name: "c", size: 100 },
        { name: "new", size: 5 },
      ],
      0,
      { prior, maxLayers: 3 },
    );
    expect(full.map((l) => l.packages)).toEqual([["a", "b", "new"], ["c"], []]);
  });
});

describe("partitionContiguous", () => {
  it("cuts name-ordered runs of about equal size", () => {
    const items = ["a", "b", "c", "d", "e", "f"].map((name) => ({ name, size: 10 }));
    expect(partitionContiguous(items, 3).map((run) => run.map((i) => i.name))).toEqual([
      ["a", "b"],
      ["c", "d"],
      ["e", "f"],
    ]);
    expect(partitionContiguous(items.slice(0, 2), 3)).toHaveLength(2);
  });
});
