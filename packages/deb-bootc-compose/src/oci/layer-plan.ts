/**
 * Which packages share a layer. Goal: an upgrade of one package changes as few image bytes as possible,
 * within a layer budget (registries and runtimes dislike more than ~64-127 layers; we default to 64).
 *
 * Model: if each package is equally likely to be upgraded, the expected bytes changed by one upgrade is
 * sum over layers of (layer size x packages in it) / packages. Large packages therefore get a layer of
 * their own; the many small ones are packed together in a few "bins". Bins are contiguous runs of the
 * small packages in name order, cut at equal shares of their total size, so a package whose size
 * changes a little does not reshuffle the others (greedy size-ordered bin packing would). When the
 * previous image's plan is given, its grouping is kept and only new packages are placed, which makes
 * successive composes share every untouched layer.
 */

export interface PackageSize {
  name: string;
  /** Bytes this package contributes to the tree (content plus a header estimate per entry). */
  size: number;
}

export interface PlannedLayer {
  /** Packages in this layer, sorted; empty for the layer of files no package owns. */
  packages: string[];
  size: number;
  /** True for the last layer: files no package owns (generated /etc files, dpkg status, caches). */
  unowned: boolean;
}

export interface LayerPlanOptions {
  /** Total layers including the unowned one; 1 puts everything in one layer. */
  maxLayers?: number;
  /** Packages that always get a layer of their own (kernels, firmware: big and frequently updated). */
  alone?: readonly string[];
  /** Package groups of a previous image (from its layer annotations), to keep layers stable. */
  prior?: readonly (readonly string[])[];
}

export const DEFAULT_MAX_LAYERS = 64;

/** Expected bytes changed by upgrading one package chosen uniformly: the quantity the plan minimises. */
export function expectedChangedBytes(layers: readonly { packages: readonly string[]; size: number }[]): number {
  let weighted = 0;
  let count = 0;
  for (const layer of layers) {
    weighted += layer.size * layer.packages.length;
    count += layer.packages.length;
  }
  return count === 0 ? 0 : weighted / count;
}

function byName(a: PackageSize, b: PackageSize): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Cut a name-ordered list into at most k contiguous runs of about equal total size. */
export function partitionContiguous(items: readonly PackageSize[], k: number): PackageSize[][] {
  const sorted = [...items].sort(byName);
  if (sorted.length <= k) return sorted.map((item) => [item]);
  const total = sorted.reduce((sum, item) => sum + item.size, 0);
  const runs: PackageSize[][] = [];
  let current: PackageSize[] = [];
  let cumulative = 0;
  let boundary = 1;
  for (let i = 0; i < sorted.length; i++) {
    const item = sorted[i]!;
    current.push(item);
    cumulative += item.size;
    const remainingItems = sorted.length - i - 1;
    const remainingRuns = k - runs.length - 1;
    const reachedShare = total > 0 ? cumulative >= (boundary * total) / k : current.length >= sorted.length / k;
    if (remainingRuns > 0 && (reachedShare || remainingItems === remainingRuns)) {
      runs.push(current);
      current = [];
      boundary = runs.length + 1;
    }
  }
  if (current.length > 0) runs.push(current);
  return runs;
}

function layerOf(items: readonly PackageSize[]): PlannedLayer {
  return {
    packages: items.map((item) => item.name).sort(),
    size: items.reduce((sum, item) => sum + item.size, 0),
    unowned: false,
  };
}

function freshPlan(packages: readonly PackageSize[], slots: number, alone: ReadonlySet<string>): PlannedLayer[] {
  if (packages.length <= slots) return packages.map((p) => layerOf([p]));
  const forced = packages.filter((p) => alone.has(p.name));
  const others = packages.filter((p) => !alone.has(p.name)).sort((a, b) => b.size - a.size || byName(a, b));
  const free = Math.max(1, slots - forced.length);
  let best: PlannedLayer[] | undefined;
  let bestCost = Number.POSITIVE_INFINITY;
  for (let bins = 1; bins <= free; bins++) {
    const singles = others.slice(0, free - bins);
    const rest = others.slice(free - bins);
    const layers = [...forced, ...singles].map((p) => layerOf([p]));
    for (const run of partitionContiguous(rest, bins)) layers.push(layerOf(run));
    const cost = expectedChangedBytes(layers);
    if (cost < bestCost) {
      bestCost = cost;
      best = layers;
    }
  }
  return best ?? [];
}

function priorPlan(packages: readonly PackageSize[], slots: number, prior: readonly (readonly string[])[]): PlannedLayer[] | undefined {
  const bySize = new Map(packages.map((p) => [p.name, p]));
  const placed = new Set<string>();
  const groups: PackageSize[][] = [];
  for (const group of prior) {
    const kept = group.filter((name) => bySize.has(name) && !placed.has(name)).map((name) => bySize.get(name)!);
    for (const p of kept) placed.add(p.name);
    if (kept.length > 0) groups.push(kept);
  }
  if (groups.length > slots) return undefined;
  const added = packages.filter((p) => !placed.has(p.name)).sort((a, b) => b.size - a.size || byName(a, b));
  for (const p of added) {
    if (groups.length < slots) groups.push([p]);
    else {
      // the smallest layer takes it: fewest bytes change along with it
      let smallest = 0;
      for (let i = 1; i < groups.length; i++) {
        const size = (g: PackageSize[]) => g.reduce((s, x) => s + x.size, 0);
        if (size(groups[i]!) < size(groups[smallest]!)) smallest = i;
      }
      groups[smallest]!.push(p);
    }
  }
  return groups.map(layerOf);
}

/**
 * Plan the layers: package layers sorted by their first package name, then the unowned layer last.
 * Deterministic for the same inputs.
 */
export function planLayers(packages: readonly PackageSize[], unownedSize: number, options: LayerPlanOptions = {}): PlannedLayer[] {
  const maxLayers = Math.max(1, options.maxLayers ?? DEFAULT_MAX_LAYERS);
  const unique = [...new Map(packages.map((p) => [p.name, p])).values()];
  if (maxLayers === 1) {
    // a single-layer image (for comparison): everything in the last layer
    const all = layerOf(unique);
    return [{ ...all, size: all.size + unownedSize, unowned: true }];
  }
  const slots = maxLayers - 1;
  const planned =
    (options.prior ? priorPlan(unique, slots, options.prior) : undefined) ?? freshPlan(unique, slots, new Set(options.alone ?? []));
  planned.sort((a, b) => (a.packages[0]! < b.packages[0]! ? -1 : a.packages[0]! > b.packages[0]! ? 1 : 0));
  return [...planned, { packages: [], size: unownedSize, unowned: true }];
}
