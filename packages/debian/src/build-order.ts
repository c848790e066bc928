import { debianError } from "./errors.js";
import {
  formatRelation,
  matchRelation,
  type PackageCandidate,
  PackageUniverse,
  type Relation,
  type Relations,
  reduceRelations,
} from "./relation.js";

/**
 * The order in which a batch of source packages must be built when some build-depend on binaries that
 * others in the batch produce (what a distribution bootstrap, a library transition or `chain-build`
 * needs). The answer is a list of levels: every source in a level needs only binaries of earlier
 * levels (or none of the batch's), so the sources of one level can be built in parallel.
 *
 * A build-dependency group (`a | b`) is read as apt reads it, alternative by alternative: the first
 * alternative some other source of the batch produces, in a version that fits, makes the source wait for
 * that source; an alternative before it that `availableOutside` says is already satisfiable outside the
 * batch makes it wait for nothing. Restrictions are applied first (`[arch]` lists for `arch`,
 * `<profiles>` for `profiles`), and architecture qualifiers follow dpkg (`:any` and `:native` are produced
 * by the batch, another architecture's `:i386` is not). The .dsc does not say a binary's Multi-Arch, so
 * the batch's binaries are taken as Multi-Arch: allowed. A source that build-depends on its own binaries
 * (a bootstrap) needs them from outside and does not wait for itself.
 */
export interface BatchSource {
  /** The Source field; unique in the batch. */
  readonly source: string;
  readonly version: string;
  /** The binary packages it builds (the .dsc's Binary field). */
  readonly binaries: readonly string[];
  /** The version its binaries get, when not the source's (a binNMU's `+bN`). */
  readonly binaryVersion?: string;
  readonly buildDepends: Relations;
  readonly buildDependsArch?: Relations;
  readonly buildDependsIndep?: Relations;
}

export interface BuildOrderOptions {
  /** The architecture the batch is built for (restrictions and qualifiers are read for it). */
  arch: string;
  /** Active build profiles (DEB_BUILD_PROFILES). */
  profiles?: readonly string[];
  /** Whether a relation is already satisfiable outside the batch (the tag's repository, the distribution). */
  availableOutside?: (relation: Relation) => boolean;
}

/** Why one source waits for another: the relation of its own that the other's binary satisfies. */
export interface BuildOrderEdge {
  readonly source: string;
  readonly needs: string;
  /** The relation as written (restrictions removed), e.g. `libfoo-dev (>= 1.0)`. */
  readonly relation: string;
  /** The other source's binary that satisfies it. */
  readonly binary: string;
}

export interface BuildOrder {
  /** The sources' names level by level, each level in the order the sources were given. */
  readonly levels: readonly (readonly string[])[];
  /** Every wait found, in the order the sources were given. */
  readonly edges: readonly BuildOrderEdge[];
}

interface BatchBinary extends PackageCandidate {
  readonly source: string;
}

/** The waits between the sources of a batch (before any ordering). */
export function batchEdges(sources: readonly BatchSource[], options: BuildOrderOptions): BuildOrderEdge[] {
  const seen = new Set<string>();
  for (const s of sources) {
    if (seen.has(s.source)) {
      throw debianError("BATCH_SOURCE_DUPLICATE", `source package ${s.source} is given twice in one batch`, {
        details: { source: s.source },
      });
    }
    seen.add(s.source);
  }
  const universe = new PackageUniverse<BatchBinary>(options.arch);
  for (const s of sources) {
    for (const name of s.binaries) {
      universe.add({ name, version: s.binaryVersion ?? s.version, architecture: options.arch, multiArch: "allowed", source: s.source });
    }
  }
  const edges: BuildOrderEdge[] = [];
  for (const s of sources) {
    const fields = [s.buildDepends, s.buildDependsArch ?? [], s.buildDependsIndep ?? []];
    const groups = fields.flatMap((f) => reduceRelations(f, { arch: options.arch, profiles: options.profiles ?? [] }));
    const waits = new Map<string, BuildOrderEdge>();
    for (const group of groups) {
      for (const rel of group) {
        const match = matchRelation(rel, universe, { arch: options.arch });
        const producers = [...match.packages, ...match.providers.map((p) => p.package)].filter((p) => p.source !== s.source);
        if (producers.length > 0) {
          for (const p of producers) {
            if (!waits.has(p.source))
              waits.set(p.source, { source: s.source, needs: p.source, relation: formatRelation(rel), binary: p.name });
          }
          break;
        }
        if (options.availableOutside?.(rel)) break;
      }
    }
    edges.push(...waits.values());
  }
  return edges;
}

/**
 * Orders a batch into levels of sources that can be built in parallel. A cycle raises
 * BUILD_DEPENDENCY_CYCLE naming the sources in it and what each needs from the next; a source given
 * twice raises BATCH_SOURCE_DUPLICATE.
 */
export function buildOrder(sources: readonly BatchSource[], options: BuildOrderOptions): BuildOrder {
  return levelsOf(sources, batchEdges(sources, options));
}

/**
 * The build order of a batch built for several architectures: a wait on any of them orders the sources
 * (a build-dependency restricted to `[arm64]` on another source's binary makes the source wait for it
 * when the batch is built for amd64 and arm64, since its arm64 build needs it). The edges are each
 * architecture's, the first one's first, without repeating a wait already found.
 */
export function buildOrderAcross(
  sources: readonly BatchSource[],
  arches: readonly string[],
  options: Omit<BuildOrderOptions, "arch">,
): BuildOrder {
  const edges = new Map<string, BuildOrderEdge>();
  for (const arch of arches)
    for (const e of batchEdges(sources, { ...options, arch }))
      if (!edges.has(`${e.source} ${e.needs}`)) edges.set(`${e.source} ${e.needs}`, e);
  return levelsOf(sources, [...edges.values()]);
}

function levelsOf(sources: readonly BatchSource[], edges: readonly BuildOrderEdge[]): BuildOrder {
  const needs = new Map<string, Set<string>>(sources.map((s) => [s.source, new Set<string>()]));
  for (const e of edges) needs.get(e.source)!.add(e.needs);
  const levels: string[][] = [];
  const placed = new Set<string>();
  let remaining = sources.map((s) => s.source);
  while (remaining.length > 0) {
    const level = remaining.filter((name) => [...needs.get(name)!].every((n) => placed.has(n)));
    if (level.length === 0) throw cycleError(remaining, edges);
    for (const name of level) placed.add(name);
    levels.push(level);
    remaining = remaining.filter((name) => !placed.has(name));
  }
  return { levels, edges };
}

/** Finds one cycle among the sources left unplaced (each of them waits for another of them) and names it. */
function cycleError(remaining: readonly string[], edges: readonly BuildOrderEdge[]) {
  const left = new Set(remaining);
  const first = new Map<string, BuildOrderEdge>();
  for (const e of edges) if (left.has(e.source) && left.has(e.needs) && !first.has(e.source)) first.set(e.source, e);
  // Walking "needs" from any unplaced source must come back to a source already visited: that loop is the cycle.
  const path: string[] = [];
  let at = remaining[0]!;
  while (!path.includes(at)) {
    path.push(at);
    at = first.get(at)!.needs;
  }
  const cycle = path.slice(path.indexOf(at));
  const steps = cycle.map((name) => {
    const e = first.get(name)!;
    return `${name} needs ${e.relation} (built by ${e.needs})`;
  });
  return debianError("BUILD_DEPENDENCY_CYCLE", `build-dependency cycle: ${steps.join("; ")}`, {
    hint: "build one of them first against a version from outside the batch (a bootstrap profile or an older upload)",
    details: { cycle, blocked: [...remaining] },
  });
}

/**
 * The sources that must be rebuilt when the binaries `changed` get a new version: those that
 * build-depend on one of them, then those that build-depend on their binaries, and so on; ordered as
 * buildOrder orders them, with the waits that make each one affected (on the change or on another rebuild).
 * `sources` is everything that could be affected (a tag's packages); the changed source itself is not listed.
 */
export function rebuildOrder(
  sources: readonly BatchSource[],
  changed: { source: string; binaries: readonly string[]; version: string },
  options: BuildOrderOptions,
): BuildOrder {
  const others = sources.filter((s) => s.source !== changed.source);
  const batch: BatchSource[] = [
    ...others,
    { source: changed.source, version: changed.version, binaries: changed.binaries, buildDepends: [] },
  ];
  const edges = batchEdges(batch, options);
  const affected = new Set<string>([changed.source]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const e of edges) {
      if (affected.has(e.needs) && !affected.has(e.source)) {
        affected.add(e.source);
        grew = true;
      }
    }
  }
  affected.delete(changed.source);
  const order = buildOrder(
    others.filter((s) => affected.has(s.source)),
    options,
  );
  // each rebuild's reasons: its waits on the change and on other rebuilds
  return { levels: order.levels, edges: edges.filter((e) => affected.has(e.source)) };
}
