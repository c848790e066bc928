import {
  compareVersions,
  formatRelation,
  PackageUniverse,
  parseRelations,
  type Relation,
  satisfyGroup,
  satisfyRelation,
} from "@debian-bootc/debian";
import type { BASELINES } from "../definition.js";
import { composeError } from "../errors.js";
import { didYouMean } from "../suggest.js";
import type { IndexPackage } from "./repository-index.js";

/**
 * Package-set resolution: the closure of a request over Pre-Depends and Depends (and Recommends when
 * the definition asks), as apt would install it into an empty root, computed before anything is
 * downloaded.
 *
 * - Candidates: one version per package name and architecture, the highest the repositories offer
 *   (or the one a lockfile pins); packages of other architectures are not considered.
 * - Roots: the baseline (what the matching mmdebstrap variant installs: Essential: yes; plus apt; plus
 *   Priority: required; plus Priority: important), then the requested packages, all selected before any
 *   dependency is followed, so that an alternative already chosen wins (`initramfs-tools |
 *   linux-initramfs-tool` with dracut requested picks dracut).
 * - A dependency group already satisfied by a selected package (directly or through Provides) adds
 *   nothing. Otherwise the first alternative with a usable candidate wins, as in apt: the real package
 *   of that name, else a provider (Priority rank, then name); excluded packages and packages that
 *   conflict (Conflicts/Breaks, either direction) with the selection are not usable.
 * - Dependencies are followed breadth first, so the reported chains are short. An unsatisfiable
 *   Depends is an error with the chain from a root down to the failing relation and the reason of
 *   each alternative; an unsatisfiable Recommends is skipped.
 */

export type Baseline = (typeof BASELINES)[number];

/** The mmdebstrap variant that installs a baseline (the rootfs phase then adds the rest with --include). */
export function mmdebstrapVariant(baseline: Baseline): string {
  return baseline === "none" ? "custom" : baseline;
}

export interface Pin {
  name: string;
  version: string;
  /** The package's architecture (`all` for arch:all packages). */
  arch: string;
  sha256?: string;
  /** Who pinned it, for messages (default "the lockfile"). */
  by?: string;
  /** Prefer this repository's entry when several repositories have the same file. */
  repository?: string;
}

export interface ResolveOptions {
  /** Target architecture. */
  arch: string;
  /** Requested packages (names; a `:arch` suffix is allowed). */
  packages: readonly string[];
  exclude?: readonly string[];
  /** Default "required". */
  baseline?: Baseline;
  /** Follow Recommends (default false). */
  recommends?: boolean;
  pins?: readonly Pin[];
  /** For messages: "minimal/amd64". */
  label?: string;
}

export type SelectionReason =
  | { kind: "requested"; via?: string }
  | { kind: "baseline"; why: string }
  | { kind: "dependency"; parent: string; field: DependencyField; relation: string };

type DependencyField = "Pre-Depends" | "Depends" | "Recommends";

export interface PackageSet {
  arch: string;
  /** Sorted by name. */
  packages: IndexPackage[];
  reasons: Map<string, SelectionReason>;
}

const PRIORITY_RANK: Record<string, number> = { required: 0, important: 1, standard: 2, optional: 3, extra: 4 };

function rank(p: IndexPackage): number {
  return PRIORITY_RANK[p.priority] ?? 5;
}

/** One candidate per name for an architecture: the highest version, or the pinned one. */
export class CandidateView {
  readonly arch: string;
  readonly universe: PackageUniverse<IndexPackage>;
  /** Every version seen per name (for messages). */
  readonly all = new Map<string, IndexPackage[]>();
  readonly excluded: ReadonlySet<string>;
  /** Why a name has no candidate although versions exist (lockfile pins). */
  readonly notes = new Map<string, string>();

  constructor(packages: readonly IndexPackage[], arch: string, options: { exclude?: readonly string[]; pins?: readonly Pin[] } = {}) {
    this.arch = arch;
    this.excluded = new Set((options.exclude ?? []).map(bareName));
    const pins = new Map<string, Pin>();
    for (const pin of options.pins ?? []) if (pin.arch === arch || pin.arch === "all") pins.set(pin.name, pin);
    for (const p of packages) {
      if (p.architecture !== arch && p.architecture !== "all") continue;
      const list = this.all.get(p.name);
      if (list) list.push(p);
      else this.all.set(p.name, [p]);
    }
    this.universe = new PackageUniverse<IndexPackage>(arch);
    for (const [name, versions] of this.all) {
      if (this.excluded.has(name)) continue;
      const pin = pins.get(name);
      if (pin) {
        const same = versions.filter((v) => v.version === pin.version && v.architecture === pin.arch);
        // the same version can come from two repositories (a rebuild in deb-orchestrator): the pin's SHA256 picks
        const matching = same.filter((v) => pin.sha256 === undefined || v.sha256 === pin.sha256);
        // a reproducible rebuild is byte-identical to the archive's: then the pinning repository's entry is taken
        const match = matching.find((v) => v.origin.repository === pin.repository) ?? matching[0] ?? same[0];
        if (!match) {
          this.notes.set(
            name,
            `pinned to ${pin.version} (${pin.arch}) by ${pin.by ?? "the lockfile"}, but the repositories have ${versions.map((v) => `${v.version} (${v.architecture})`).join(", ")}`,
          );
          continue;
        }
        if (pin.sha256 !== undefined && match.sha256 !== pin.sha256) {
          this.notes.set(
            name,
            `pinned to ${pin.version} with SHA256 ${pin.sha256} by ${pin.by ?? "the lockfile"}, but the repositories' ${pin.version} has ${match.sha256}`,
          );
          continue;
        }
        this.universe.add(match);
        continue;
      }
      let best = versions[0]!;
      for (const v of versions) if (compareVersions(v.version, best.version) > 0) best = v;
      this.universe.add(best);
    }
  }

  candidate(name: string): IndexPackage | undefined {
    return this.universe.packages(name)[0];
  }

  /** Every candidate name (for suggestions). */
  names(): string[] {
    return [...this.all.keys()];
  }
}

function bareName(name: string): string {
  const colon = name.indexOf(":");
  return colon === -1 ? name : name.slice(0, colon);
}

const singletons = new WeakMap<IndexPackage, PackageUniverse<IndexPackage>>();

/** Whether one package satisfies a relation (by name and version, or through Provides). */
function satisfies(pkg: IndexPackage, rel: Relation, dependerArch: string, negative = false): boolean {
  let u = singletons.get(pkg);
  if (!u) {
    u = new PackageUniverse<IndexPackage>(pkg.architecture === "all" ? dependerArch : pkg.architecture, [pkg]);
    singletons.set(pkg, u);
  }
  return "package" in satisfyRelation(rel, u, { arch: dependerArch, negative });
}

const parsedFields = new WeakMap<IndexPackage, Map<string, Relation[][]>>();

function relations(pkg: IndexPackage, field: "preDepends" | "depends" | "recommends" | "conflicts" | "breaks"): Relation[][] {
  let cache = parsedFields.get(pkg);
  if (!cache) {
    cache = new Map();
    parsedFields.set(pkg, cache);
  }
  const hit = cache.get(field);
  if (hit) return hit;
  const text = pkg[field];
  const parsed = text === undefined ? [] : parseRelations(text, { field, source: `${pkg.name} ${pkg.version}` });
  cache.set(field, parsed);
  return parsed;
}

interface NegativeEntry {
  pkg: IndexPackage;
  rel: Relation;
  field: "Conflicts" | "Breaks";
}

/** Resolve one variant's package set for one architecture; throws PKGSET_* errors with the chain. */
export function resolvePackageSet(view: CandidateView, options: ResolveOptions): PackageSet {
  const arch = view.arch;
  const label = options.label ?? arch;
  const baseline = options.baseline ?? "required";
  const selected = new Map<string, IndexPackage>();
  const selectedUniverse = new PackageUniverse<IndexPackage>(arch);
  const reasons = new Map<string, SelectionReason>();
  const negatives = new Map<string, NegativeEntry[]>();
  const queue: IndexPackage[] = [];

  const chain = (name: string): string[] => {
    const steps: string[] = [];
    const seen = new Set<string>();
    for (let at: string | undefined = name; at !== undefined && !seen.has(at); ) {
      seen.add(at);
      const r = reasons.get(at);
      if (!r) break;
      if (r.kind === "dependency") {
        steps.unshift(`${r.parent} ${r.field} ${r.relation}`);
        at = r.parent;
      } else {
        steps.unshift(r.kind === "requested" ? `${at} (requested${r.via ? ` as ${r.via}` : ""})` : `${at} (baseline: ${r.why})`);
        at = undefined;
      }
    }
    return steps;
  };

  /** The selected package and relation that rule `candidate` out, if any. */
  const conflictWith = (candidate: IndexPackage): { other: IndexPackage; text: string } | undefined => {
    const cArch = candidate.architecture === "all" ? arch : candidate.architecture;
    for (const [field, key] of [
      ["Conflicts", "conflicts"],
      ["Breaks", "breaks"],
    ] as const) {
      for (const group of relations(candidate, key)) {
        for (const rel of group) {
          const hits = [...selectedUniverse.packages(rel.name), ...selectedUniverse.providers(rel.name).map((p) => p.package)];
          for (const other of hits) {
            if (other.name !== candidate.name && satisfies(other, rel, cArch, true))
              return {
                other,
                text: `${candidate.name} ${candidate.version} ${field} ${formatRelation(rel)} (${other.name} ${other.version} is selected)`,
              };
          }
        }
      }
    }
    for (const name of [candidate.name, ...(candidate.provides ?? []).map((p) => p.name)]) {
      for (const entry of negatives.get(name) ?? []) {
        const eArch = entry.pkg.architecture === "all" ? arch : entry.pkg.architecture;
        if (entry.pkg.name !== candidate.name && satisfies(candidate, entry.rel, eArch, true))
          return { other: entry.pkg, text: `${entry.pkg.name} ${entry.pkg.version} ${entry.field} ${formatRelation(entry.rel)}` };
      }
    }
    return undefined;
  };

  const select = (pkg: IndexPackage, reason: SelectionReason): void => {
    if (selected.has(pkg.name)) return;
    const conflict = conflictWith(pkg);
    if (conflict) {
      throw composeError("PKGSET_CONFLICT", `${label}: ${pkg.name} cannot be installed with ${conflict.other.name}: ${conflict.text}`, {
        hint: "drop one of them from the definition's packages (or exclude the package that pulls it in)",
        details: {
          variant: label,
          package: pkg.name,
          other: conflict.other.name,
          chain: [...chainFor(pkg.name, reason)],
          otherChain: chain(conflict.other.name),
        },
      });
    }
    selected.set(pkg.name, pkg);
    selectedUniverse.add(pkg);
    reasons.set(pkg.name, reason);
    for (const [field, key] of [
      ["Conflicts", "conflicts"],
      ["Breaks", "breaks"],
    ] as const) {
      for (const group of relations(pkg, key)) {
        for (const rel of group) {
          const list = negatives.get(rel.name);
          const entry = { pkg, rel, field };
          if (list) list.push(entry);
          else negatives.set(rel.name, [entry]);
        }
      }
    }
    queue.push(pkg);
  };
  const chainFor = (name: string, reason: SelectionReason): string[] => {
    reasons.set(name, reason);
    const c = chain(name);
    reasons.delete(name);
    return c;
  };

  // baseline roots, then requested ones
  if (baseline !== "none") {
    const roots: Array<[IndexPackage, string]> = [];
    for (const name of view.names()) {
      const c = view.candidate(name);
      if (!c) continue;
      if (c.essential) roots.push([c, "Essential: yes"]);
      else if ((baseline === "required" || baseline === "important") && c.priority === "required") roots.push([c, "Priority: required"]);
      else if (baseline === "important" && c.priority === "important") roots.push([c, "Priority: important"]);
    }
    const apt = view.candidate("apt");
    if (apt && baseline !== "essential") roots.push([apt, `mmdebstrap variant ${mmdebstrapVariant(baseline)} installs apt`]);
    roots.sort((a, b) => (a[0].name < b[0].name ? -1 : a[0].name > b[0].name ? 1 : 0));
    for (const [pkg, why] of roots) select(pkg, { kind: "baseline", why });
  }
  for (const requested of options.packages) {
    const name = bareName(requested);
    if (view.excluded.has(name)) continue;
    const real = view.candidate(name);
    if (real) {
      select(real, { kind: "requested" });
      continue;
    }
    const providers = uniqueProviders(view, name);
    if (providers.length === 1) {
      select(providers[0]!, { kind: "requested", via: name });
      continue;
    }
    if (providers.length > 1) {
      const already = providers.find((p) => selected.has(p.name));
      if (already) continue;
      throw composeError(
        "PKGSET_UNSATISFIABLE",
        `${label}: ${name} is a virtual package provided by ${providers.map((p) => p.name).join(", ")}; list one of them`,
        {
          details: { variant: label, package: name, providers: providers.map((p) => p.name) },
        },
      );
    }
    const note = view.notes.get(name);
    throw composeError(
      "PKGSET_UNKNOWN_PACKAGE",
      note
        ? `${label}: ${name}: ${note}`
        : `${label}: no package ${name} for ${arch} in the repositories${didYouMean(name, nearbyNames(view, name))}`,
      {
        hint: note
          ? "update or drop the lockfile"
          : "check the name in the definition's packages and the repositories' suites and components",
        details: { variant: label, package: name, arch },
      },
    );
  }

  // breadth-first closure
  for (let i = 0; i < queue.length; i++) {
    const pkg = queue[i]!;
    const dependerArch = pkg.architecture === "all" ? arch : pkg.architecture;
    const fields: Array<[DependencyField, "preDepends" | "depends" | "recommends"]> = [
      ["Pre-Depends", "preDepends"],
      ["Depends", "depends"],
    ];
    if (options.recommends) fields.push(["Recommends", "recommends"]);
    for (const [field, key] of fields) {
      for (const group of relations(pkg, key)) {
        if (satisfyGroup(group, selectedUniverse, { arch: dependerArch }).satisfied) continue;
        const why: string[] = [];
        let chosen: { pkg: IndexPackage; rel: Relation } | undefined;
        for (const rel of group) {
          const name = rel.name;
          const candidates: IndexPackage[] = [];
          const real = view.candidate(name);
          if (real && satisfies(real, rel, dependerArch)) candidates.push(real);
          for (const p of uniqueProviders(view, name)) if (p !== real && satisfies(p, rel, dependerArch)) candidates.push(p);
          const usable: IndexPackage[] = [];
          for (const c of candidates) {
            const conflict = conflictWith(c);
            if (conflict) why.push(`${formatRelation(rel)}: ${c.name} ${c.version} conflicts: ${conflict.text}`);
            else usable.push(c);
          }
          if (usable.length > 0) {
            chosen = { pkg: usable[0]!, rel };
            break;
          }
          if (candidates.length === 0) why.push(explain(view, rel, dependerArch));
        }
        const relationText = group.map(formatRelation).join(" | ");
        if (chosen) {
          select(chosen.pkg, { kind: "dependency", parent: pkg.name, field, relation: relationText });
          continue;
        }
        if (field === "Recommends") continue;
        const steps = [...chain(pkg.name), `${pkg.name} ${pkg.version} ${field} ${relationText}`];
        throw composeError("PKGSET_UNSATISFIABLE", `${label}: unsatisfiable: ${steps.join(" -> ")}: ${why.join("; ")}`, {
          hint: "add a repository that has it, drop the package that needs it, or stop excluding what it needs",
          details: { variant: label, arch, chain: steps, reasons: why },
        });
      }
    }
  }

  const packages = [...selected.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { arch, packages, reasons };
}

/** Providers of a name among the candidates, most preferred first (Priority rank, then name). */
function uniqueProviders(view: CandidateView, name: string): IndexPackage[] {
  const seen = new Set<IndexPackage>();
  for (const p of view.universe.providers(name)) seen.add(p.package);
  return [...seen].sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Why no candidate satisfies a relation: excluded, pinned away, or what the repositories have. */
function explain(view: CandidateView, rel: Relation, dependerArch: string): string {
  const text = formatRelation(rel);
  if (view.excluded.has(rel.name)) return `${text}: ${rel.name} is excluded by the definition`;
  const note = view.notes.get(rel.name);
  if (note) return `${text}: ${rel.name} is ${note}`;
  const s = satisfyGroup([rel], view.universe, { arch: dependerArch });
  if (!s.satisfied) {
    const excludedProviders = [...view.excluded].filter((x) =>
      view.all.get(x)?.some((p) => p.provides?.some((pr) => pr.name === rel.name)),
    );
    const reason = s.reasons[0] ?? text;
    return excludedProviders.length > 0 ? `${reason} (providers excluded by the definition: ${excludedProviders.join(", ")})` : reason;
  }
  return `${text}: no usable candidate`;
}

function nearbyNames(view: CandidateView, name: string): string[] {
  const limit = Math.max(1, Math.floor(name.length / 3));
  return view.names().filter((n) => Math.abs(n.length - name.length) <= limit);
}
