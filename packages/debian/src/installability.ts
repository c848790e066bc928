import type { BinaryPackage, BinaryPackageIndex } from "./binary-package-index.js";
import { formatRelation, matchRelation, parseRelations, type Relation, type RelationGroup } from "./relation.js";

/**
 * Installability over a binary package index, in the sense of dose's distcheck and builddebcheck:
 * is there a set of packages, at most one version of each name, that contains a package for every
 * root clause, a package for every Pre-Depends and Depends group of each package in it, and no two
 * packages one of which Conflicts with or Breaks the other?
 *
 * The search is complete (a chronological backtracking search: forced choices are taken without
 * branching, a group with several usable candidates branches over them in apt's order of preference:
 * alternatives in order, the real package before providers, the highest version first), so "no" means
 * no such set exists. Candidates that have a dependency nothing in the index can satisfy are ruled out
 * up front. The number of steps is capped; a search that reaches the cap answers "undecided" rather
 * than guess. Single architecture: the index's native one plus `all` (build = host architecture).
 */

/** A dependency group with what can satisfy it, for one depender architecture. */
export interface DependencyClause {
  /** The group as written, e.g. `libfoo1 (>= 2) | libfoo2`. */
  readonly text: string;
  readonly group: RelationGroup;
  /** Architecture of the package that declares the group (the native one for a source's Build-Depends). */
  readonly dependerArch: string;
  /** Packages that satisfy it, in order of preference. */
  readonly candidates: readonly BinaryPackage[];
}

/** One step of the way from a root clause to a failing dependency. */
export interface ChainLink {
  /** The dependency group followed. */
  readonly relation: string;
  /** The package chosen for it. */
  readonly package: BinaryPackage;
}

/** Why a candidate of the failing clause could not be chosen. */
export type Blocker =
  | { readonly kind: "excluded"; readonly candidate: BinaryPackage }
  | { readonly kind: "conflict"; readonly candidate: BinaryPackage; readonly with: BinaryPackage }
  | { readonly kind: "other-version"; readonly candidate: BinaryPackage; readonly chosen: BinaryPackage };

export interface InstallabilityFailure {
  /** Index of the root clause the failing chain starts from. */
  readonly root: number;
  /** From the root clause down to the package whose dependency fails (empty when a root clause fails). */
  readonly chain: readonly ChainLink[];
  /** The clause nothing could be chosen for. */
  readonly clause: DependencyClause;
  /** Why each of its candidates was unusable (empty: nothing in the index satisfies it). */
  readonly blockers: readonly Blocker[];
}

export type InstallabilityResult =
  | { readonly status: "installable"; readonly selection: readonly BinaryPackage[] }
  | { readonly status: "not-installable"; readonly failure: InstallabilityFailure }
  | { readonly status: "undecided"; readonly steps: number };

export interface InstallabilityOptions {
  /** Packages that must not be installed (a source's Build-Conflicts). */
  excluded?: Iterable<BinaryPackage>;
  /** Search steps before answering "undecided" (default 200,000). */
  maxSteps?: number;
}

interface Pending {
  readonly clause: DependencyClause;
  readonly root: number;
  readonly parent: Pending | undefined;
  /** The package whose dependency this is (undefined for a root clause). */
  readonly via: BinaryPackage | undefined;
  readonly depth: number;
}

class StepLimit extends Error {}

/**
 * Answers installability questions over one index, caching parsed relations and candidate lists per
 * package. Create it after the index is loaded; adding to the index afterwards clears the caches.
 */
export class InstallabilityChecker {
  readonly #index: BinaryPackageIndex;
  #indexSize: number;
  #clauses = new Map<BinaryPackage, readonly DependencyClause[] | null>();
  #conflicts = new Map<BinaryPackage, readonly BinaryPackage[]>();

  constructor(index: BinaryPackageIndex) {
    this.#index = index;
    this.#indexSize = index.size;
  }

  get index(): BinaryPackageIndex {
    return this.#index;
  }

  #fresh(): void {
    if (this.#index.size !== this.#indexSize) {
      this.#clauses.clear();
      this.#conflicts.clear();
      this.#indexSize = this.#index.size;
    }
  }

  /** A group's candidates in apt's order of preference: alternatives in order, real packages before providers, newest first. */
  clause(group: RelationGroup, dependerArch: string, text = group.map(formatRelation).join(" | ")): DependencyClause {
    const seen = new Set<BinaryPackage>();
    const candidates: BinaryPackage[] = [];
    for (const rel of group) {
      const m = matchRelation(rel, this.#index, { arch: dependerArch });
      for (const p of [...m.packages, ...m.providers.map((prov) => prov.package)]) {
        if (seen.has(p)) continue;
        seen.add(p);
        candidates.push(p);
      }
    }
    return { text, group, dependerArch, candidates };
  }

  /** Packages a relation field excludes (Conflicts semantics: `:any` matches every architecture, versioned relations only versioned provides). */
  excludedBy(relations: readonly Relation[], dependerArch: string, self?: BinaryPackage): BinaryPackage[] {
    const out: BinaryPackage[] = [];
    for (const rel of relations) {
      const m = matchRelation(rel, this.#index, { arch: dependerArch, negative: true });
      for (const p of m.packages) if (p !== self) out.push(p);
      // a package that provides what it conflicts with does not conflict with itself
      for (const { package: p } of m.providers) if (p !== self) out.push(p);
    }
    return out;
  }

  /** The Pre-Depends and Depends groups of a package; null when one cannot be parsed (the package is then unusable). */
  dependencyClauses(pkg: BinaryPackage): readonly DependencyClause[] | null {
    this.#fresh();
    let clauses = this.#clauses.get(pkg);
    if (clauses === undefined) {
      clauses = this.#parseDependencies(pkg);
      this.#clauses.set(pkg, clauses);
    }
    return clauses;
  }

  #parseDependencies(pkg: BinaryPackage): readonly DependencyClause[] | null {
    const arch = pkg.architecture === "all" ? this.#index.nativeArch : pkg.architecture;
    const out: DependencyClause[] = [];
    try {
      for (const field of [pkg.preDepends, pkg.depends]) {
        if (field === undefined) continue;
        for (const group of parseRelations(field, { field: "Depends", source: pkg.name })) out.push(this.clause(group, arch));
      }
    } catch {
      return null; // a malformed relation field in a foreign index makes that package unusable, not the check
    }
    return out;
  }

  /** The packages a package Conflicts with or Breaks. */
  conflictsOf(pkg: BinaryPackage): readonly BinaryPackage[] {
    this.#fresh();
    let list = this.#conflicts.get(pkg);
    if (list === undefined) {
      const arch = pkg.architecture === "all" ? this.#index.nativeArch : pkg.architecture;
      const relations: Relation[] = [];
      try {
        for (const field of [pkg.conflicts, pkg.breaks]) {
          if (field !== undefined)
            for (const group of parseRelations(field, { field: "Conflicts", source: pkg.name })) relations.push(...group);
        }
      } catch {
        relations.length = 0; // unparseable: dependencyClauses already rules the package out
      }
      list = this.excludedBy(relations, arch, pkg);
      this.#conflicts.set(pkg, list);
    }
    return list;
  }

  /** Whether some dependency of the package has no candidate at all in the index (or cannot be parsed). */
  hopeless(pkg: BinaryPackage): boolean {
    const clauses = this.dependencyClauses(pkg);
    return clauses === null || clauses.some((c) => c.candidates.length === 0);
  }

  /** Whether packages for all the root clauses can be installed together. */
  check(roots: readonly DependencyClause[], options: InstallabilityOptions = {}): InstallabilityResult {
    const search = new Search(this, options.excluded ?? [], options.maxSteps ?? 200_000);
    const queue = search.queue;
    for (let i = 0; i < roots.length; i++) queue.push({ clause: roots[i]!, root: i, parent: undefined, via: undefined, depth: 0 });
    try {
      if (search.solve(0)) return { status: "installable", selection: [...search.chosen.values()] };
    } catch (error) {
      if (error instanceof StepLimit) return { status: "undecided", steps: search.steps };
      throw error;
    }
    return { status: "not-installable", failure: search.failure! };
  }
}

class Search {
  readonly chosen = new Map<string, BinaryPackage>();
  readonly #forbidden = new Map<BinaryPackage, number>();
  readonly #excluded: ReadonlySet<BinaryPackage>;
  readonly #trail: BinaryPackage[] = [];
  readonly queue: Pending[] = [];
  steps = 0;
  failure: InstallabilityFailure | undefined;
  #failureDepth = -1;

  constructor(
    readonly checker: InstallabilityChecker,
    excluded: Iterable<BinaryPackage>,
    readonly maxSteps: number,
  ) {
    this.#excluded = new Set(excluded);
  }

  #usable(p: BinaryPackage): boolean {
    const held = this.chosen.get(p.name);
    if (held !== undefined) return held === p;
    if (this.#excluded.has(p) || this.#forbidden.has(p) || this.checker.hopeless(p)) return false;
    for (const q of this.checker.conflictsOf(p)) if (this.chosen.get(q.name) === q) return false;
    return true;
  }

  #select(p: BinaryPackage, from: Pending): void {
    if (++this.steps > this.maxSteps) throw new StepLimit();
    this.chosen.set(p.name, p);
    this.#trail.push(p);
    for (const q of this.checker.conflictsOf(p)) this.#forbidden.set(q, (this.#forbidden.get(q) ?? 0) + 1);
    for (const clause of this.checker.dependencyClauses(p)!) {
      this.queue.push({ clause, root: from.root, parent: from, via: p, depth: from.depth + 1 });
    }
  }

  #undo(mark: number, queueLength: number): void {
    while (this.#trail.length > mark) {
      const p = this.#trail.pop()!;
      this.chosen.delete(p.name);
      for (const q of this.checker.conflictsOf(p)) {
        const n = this.#forbidden.get(q)! - 1;
        if (n === 0) this.#forbidden.delete(q);
        else this.#forbidden.set(q, n);
      }
    }
    this.queue.length = queueLength;
  }

  /** Satisfies the queue from position `at` on; on false, everything it did has been undone by the caller. */
  solve(at: number): boolean {
    for (let i = at; i < this.queue.length; i++) {
      const pending = this.queue[i]!;
      const { candidates } = pending.clause;
      let satisfied = false;
      for (const c of candidates) {
        if (this.chosen.get(c.name) === c) {
          satisfied = true;
          break;
        }
      }
      if (satisfied) continue;
      const usable = candidates.filter((c) => this.#usable(c));
      if (usable.length === 0) {
        this.#recordFailure(pending);
        return false;
      }
      if (usable.length === 1) {
        this.#select(usable[0]!, pending);
        continue;
      }
      for (const candidate of usable) {
        const mark = this.#trail.length;
        const queueLength = this.queue.length;
        if (this.#usable(candidate)) {
          this.#select(candidate, pending);
          if (this.solve(i + 1)) return true;
        }
        this.#undo(mark, queueLength);
      }
      return false;
    }
    return true;
  }

  /** Keeps the deepest failure: the one nearest its cause. */
  #recordFailure(pending: Pending): void {
    if (pending.depth <= this.#failureDepth) return;
    this.#failureDepth = pending.depth;
    const chain: ChainLink[] = [];
    for (let p: Pending | undefined = pending; p?.parent !== undefined; p = p.parent) {
      chain.unshift({ relation: p.parent.clause.text, package: p.via! });
    }
    const blockers: Blocker[] = [];
    for (const c of pending.clause.candidates) {
      const held = this.chosen.get(c.name);
      if (held !== undefined && held !== c) blockers.push({ kind: "other-version", candidate: c, chosen: held });
      else if (this.#excluded.has(c)) blockers.push({ kind: "excluded", candidate: c });
      else {
        const by = [...this.chosen.values()].find(
          (q) => this.checker.conflictsOf(q).includes(c) || this.checker.conflictsOf(c).includes(q),
        );
        if (by !== undefined) blockers.push({ kind: "conflict", candidate: c, with: by });
      }
    }
    let clause = pending.clause;
    if (blockers.length === 0) {
      // every candidate was ruled out up front: say which of its own dependencies nothing satisfies
      const hopeless = clause.candidates.find((c) => this.checker.hopeless(c));
      if (hopeless !== undefined) {
        const empty = this.checker.dependencyClauses(hopeless)?.find((d) => d.candidates.length === 0);
        chain.push({ relation: clause.text, package: hopeless });
        clause = empty ?? { text: `${hopeless.name}'s Depends (malformed)`, group: [], dependerArch: clause.dependerArch, candidates: [] };
      }
    }
    this.failure = { root: pending.root, chain, clause, blockers };
  }
}
