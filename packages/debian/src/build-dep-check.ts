import type { BinaryPackage, BinaryPackageIndex } from "./binary-package-index.js";
import { debianError } from "./errors.js";
import { type DependencyClause, InstallabilityChecker, type InstallabilityFailure } from "./installability.js";
import { type FieldSource, formatRelation, matchRelation, parseRelations, type Relation, reduceRelations } from "./relation.js";

/**
 * Can a source package's build-dependencies be satisfied from these binary package indexes? The
 * question dose-builddebcheck answers, and the one a build hub asks before giving a build to a builder.
 *
 * What is checked (the default, `transitive: true`): that one set of binary packages, at most one
 * version per name, holds something for every Build-Depends group (plus -Arch and -Indep for the parts
 * built, plus `extraDependencies` such as build-essential, plus every Essential: yes package, as a
 * buildd chroot has them), everything those packages Pre-Depend and Depend on, recursively, and
 * nothing that the source Build-Conflicts with or that one of them Conflicts with or Breaks. Restrictions
 * are applied first as dpkg-dev does ([arch] lists for the host architecture, <profiles> for the active
 * build profiles); architecture qualifiers (:any, :native) and Multi-Arch follow dpkg; a versioned
 * relation is satisfied by Provides only with a version (Provides: foo (= 1.0)).
 *
 * Not checked: Recommends (apt-get satisfy and sbuild do not install them either), what maintainer
 * scripts need at install time beyond Pre-Depends, and cross builds (build = host architecture).
 * With `transitive: false` only the relations themselves are looked up (and Build-Conflicts against
 * the packages that would satisfy them), as a cheaper first answer.
 */

/** Which binary packages the build makes: dpkg-buildpackage -B (arch), -A (indep) or both (-b). */
export type BuildParts = "arch" | "indep" | "both";

export interface BuildDepCheckOptions {
  /** Build (and host) architecture; must be the index's native one. */
  arch: string;
  /** Active build profiles (DEB_BUILD_PROFILES). */
  profiles?: readonly string[];
  /** Default "both": Build-Depends plus -Arch and -Indep (and the matching Build-Conflicts). */
  parts?: BuildParts;
  /** Relations the builder installs besides the source's, e.g. "build-essential" (what sbuild adds). */
  extraDependencies?: string;
  /** Essential: yes packages are installed too (as in every chroot); default true. */
  essential?: boolean;
  /** Follow the chosen packages' own dependencies and conflicts (default true); false checks the relations only. */
  transitive?: boolean;
  /** Search steps before "undecided" (default 200,000). */
  maxSteps?: number;
}

/** Where a build-dependency came from. */
export type BuildDepField =
  | "Build-Depends"
  | "Build-Depends-Arch"
  | "Build-Depends-Indep"
  | "Build-Conflicts"
  | "Build-Conflicts-Arch"
  | "Build-Conflicts-Indep"
  | "extra"
  | "Essential";

export interface PackageRef {
  readonly name: string;
  readonly version: string;
  readonly architecture: string;
  readonly multiArch?: string;
  /** The caller's name of the index it is in. */
  readonly origin: string;
}

/**
 * Why one relation (an alternative) cannot be satisfied:
 * - missing: no package of that name, nothing provides it;
 * - version: packages or versioned provides exist, none with a fitting version (`available` lists them);
 * - unversioned-provide: only unversioned Provides, which cannot satisfy a versioned relation;
 * - architecture: only packages of another architecture, or without the Multi-Arch the qualifier needs;
 * - conflict: what would satisfy it is excluded by Build-Conflicts or conflicts with other packages needed;
 * - dependency: what would satisfy it cannot be installed (its own dependencies fail; see `chain`);
 * - undecided: the search gave up (step limit).
 */
export type ProblemKind = "missing" | "version" | "unversioned-provide" | "architecture" | "conflict" | "dependency" | "undecided";

export interface RelationProblem {
  /** The relation as written (restrictions removed), e.g. `libfoo-dev (>= 1.0)`. */
  readonly relation: string;
  readonly kind: ProblemKind;
  /** Packages under that name that do not fit (version, architecture, unversioned provides). */
  readonly available: readonly PackageRef[];
}

export interface ConflictRef {
  readonly package: PackageRef;
  /** What excludes it: another package (Conflicts/Breaks either way, or another version of it), or the source's Build-Conflicts. */
  readonly with: PackageRef | "Build-Conflicts";
}

export interface UnsatisfiedBuildDependency {
  readonly field: BuildDepField;
  /** The group as written (restrictions removed), alternatives joined with " | ". */
  readonly relation: string;
  /** The kind of the first alternative's problem (for a single relation, the problem). */
  readonly kind: ProblemKind;
  /** One problem per alternative, in order: what each alternative would need. */
  readonly alternatives: readonly RelationProblem[];
  /**
   * For kind "dependency" (or "conflict" deeper down): from the package chosen for this relation down to
   * the dependency that fails, each step "package depends on relation".
   */
  readonly chain?: ReadonlyArray<{ readonly package: PackageRef; readonly relation: string }>;
  /** The dependency at the end of the chain, and why it fails. */
  readonly cause?: { readonly relation: string; readonly problems: readonly RelationProblem[]; readonly conflicts: readonly ConflictRef[] };
  /** Set when the group can be satisfied alone but not together with the other build-dependencies. */
  readonly combination?: true;
}

export interface BuildDepCheckResult {
  readonly status: "satisfiable" | "unsatisfiable" | "undecided";
  readonly satisfiable: boolean;
  /** Empty when satisfiable. */
  readonly unsatisfied: readonly UnsatisfiedBuildDependency[];
  /** The names of the indexes looked in, in order (for messages). */
  readonly searched: readonly string[];
  /** When satisfiable and transitive: the packages that would be installed, sorted by name. */
  readonly installSet?: readonly PackageRef[];
  readonly checked: "transitive" | "direct";
}

const ref = (p: BinaryPackage): PackageRef => ({
  name: p.name,
  version: p.version,
  architecture: p.architecture,
  ...(p.multiArch && p.multiArch !== "no" ? { multiArch: p.multiArch } : {}),
  origin: p.origin,
});

interface RootGroup {
  readonly field: BuildDepField;
  readonly clause: DependencyClause;
}

/** The fields a build with these parts reads. */
function fieldsFor(parts: BuildParts): { depends: BuildDepField[]; conflicts: BuildDepField[] } {
  const depends: BuildDepField[] = ["Build-Depends"];
  const conflicts: BuildDepField[] = ["Build-Conflicts"];
  if (parts !== "indep") {
    depends.push("Build-Depends-Arch");
    conflicts.push("Build-Conflicts-Arch");
  }
  if (parts !== "arch") {
    depends.push("Build-Depends-Indep");
    conflicts.push("Build-Conflicts-Indep");
  }
  return { depends, conflicts };
}

/**
 * Checks a source's build-dependencies (its .dsc or Sources stanza: anything with `get(field)`) against
 * the index. Relation syntax errors in the source raise RELATION_SYNTAX.
 */
export function checkBuildDependencies(
  source: FieldSource,
  index: BinaryPackageIndex | InstallabilityChecker,
  options: BuildDepCheckOptions,
): BuildDepCheckResult {
  const checker = index instanceof InstallabilityChecker ? index : new InstallabilityChecker(index);
  const universe = checker.index;
  const arch = options.arch;
  if (arch !== universe.nativeArch) {
    throw debianError(
      "ARCHITECTURE_INVALID",
      `build architecture ${arch} is not the index's (${universe.nativeArch}): cross builds are not checked`,
      {
        details: { arch, indexArch: universe.nativeArch },
      },
    );
  }
  const reduce = { arch, profiles: options.profiles ?? [] };
  const name = source.get("Source") ?? source.get("Package") ?? "source";
  const { depends, conflicts } = fieldsFor(options.parts ?? "both");

  const roots: RootGroup[] = [];
  const addGroups = (field: BuildDepField, text: string | undefined) => {
    if (text === undefined || text.trim() === "") return;
    for (const group of reduceRelations(parseRelations(text, { field, source: name }), reduce)) {
      roots.push({ field, clause: checker.clause(group, arch) });
    }
  };
  if (options.essential !== false) {
    const seen = new Set<string>();
    for (const p of universe.essentialPackages()) {
      if (seen.has(p.name) || (p.architecture !== arch && p.architecture !== "all")) continue;
      seen.add(p.name);
      const candidates = universe.packages(p.name).filter((q) => q.essential && (q.architecture === arch || q.architecture === "all"));
      roots.push({ field: "Essential", clause: { text: p.name, group: [{ name: p.name }], dependerArch: arch, candidates } });
    }
  }
  addGroups("extra", options.extraDependencies);
  for (const field of depends) addGroups(field, source.get(field));

  const excludedBy = new Map<BinaryPackage, BuildDepField>();
  for (const field of conflicts) {
    const text = source.get(field);
    if (text === undefined || text.trim() === "") continue;
    for (const group of reduceRelations(parseRelations(text, { field, source: name }), reduce)) {
      for (const p of checker.excludedBy(group, arch)) excludedBy.set(p, field);
    }
  }

  const searched = [...universe.origins];
  const transitive = options.transitive !== false;
  const checked = transitive ? "transitive" : "direct";
  const unsatisfied: UnsatisfiedBuildDependency[] = [];

  // relations nothing in the index satisfies, or only what Build-Conflicts excludes: no search needed
  const remaining: RootGroup[] = [];
  for (const root of roots) {
    const usable = root.clause.candidates.filter((c) => !excludedBy.has(c));
    if (usable.length > 0) remaining.push(root);
    else unsatisfied.push(directProblem(root, checker, excludedBy));
  }
  if (!transitive) {
    return {
      status: unsatisfied.length === 0 ? "satisfiable" : "unsatisfiable",
      satisfiable: unsatisfied.length === 0,
      unsatisfied,
      searched,
      checked,
    };
  }

  const solve = (groups: readonly RootGroup[]) =>
    checker.check(
      groups.map((g) => g.clause),
      { excluded: excludedBy.keys(), ...(options.maxSteps === undefined ? {} : { maxSteps: options.maxSteps }) },
    );
  const whole = solve(remaining);
  if (whole.status === "undecided") return undecided(remaining, searched);
  if (whole.status === "installable" && unsatisfied.length === 0) {
    const installSet = whole.selection.map(ref).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { status: "satisfiable", satisfiable: true, unsatisfied, searched, installSet, checked };
  }
  if (whole.status === "not-installable") {
    // name the culprits: each group tried with what every build has (Essential, extra), alone
    const base = remaining.filter((g) => g.field === "Essential" || g.field === "extra");
    const own = remaining.filter((g) => g.field !== "Essential" && g.field !== "extra");
    const baseResult = solve(base);
    let blamed = 0;
    if (baseResult.status === "not-installable") {
      unsatisfied.push(transitiveProblem(base, baseResult.failure, excludedBy, checker));
      blamed++;
    } else {
      for (const group of own) {
        const alone = solve([...base, group]);
        if (alone.status === "not-installable") {
          unsatisfied.push(transitiveProblem([...base, group], alone.failure, excludedBy, checker));
          blamed++;
        }
      }
    }
    if (blamed === 0) unsatisfied.push({ ...transitiveProblem(remaining, whole.failure, excludedBy, checker), combination: true });
  }
  return { status: "unsatisfiable", satisfiable: false, unsatisfied, searched, checked };
}

function undecided(groups: readonly RootGroup[], searched: string[]): BuildDepCheckResult {
  const text = groups.map((g) => g.clause.text).join(", ");
  return {
    status: "undecided",
    satisfiable: false,
    unsatisfied: [{ field: "Build-Depends", relation: text, kind: "undecided", alternatives: [] }],
    searched,
    checked: "transitive",
  };
}

/** Why each alternative of a relation group finds nothing usable in the index. */
function relationProblems(
  group: readonly Relation[],
  dependerArch: string,
  checker: InstallabilityChecker,
  excluded: ReadonlyMap<BinaryPackage, unknown>,
): RelationProblem[] {
  return group.map((rel) => {
    const m = matchRelation(rel, checker.index, { arch: dependerArch });
    const relation = formatRelation(rel);
    const satisfying = [...m.packages, ...m.providers.map((p) => p.package)];
    if (satisfying.length > 0) {
      const kind = satisfying.every((p) => excluded.has(p)) ? "conflict" : "dependency";
      return { relation, kind, available: satisfying.map(ref) };
    }
    const wrongVersion = [...m.wrongVersion, ...m.providersWrongVersion.map((p) => p.package)];
    if (wrongVersion.length > 0) return { relation, kind: "version", available: wrongVersion.map(ref) };
    if (m.unversionedProviders.length > 0) return { relation, kind: "unversioned-provide", available: m.unversionedProviders.map(ref) };
    const wrongArch = [...m.wrongArch, ...m.providersWrongArch];
    if (wrongArch.length > 0) return { relation, kind: "architecture", available: wrongArch.map(ref) };
    return { relation, kind: "missing", available: [] };
  });
}

function directProblem(
  root: RootGroup,
  checker: InstallabilityChecker,
  excludedBy: ReadonlyMap<BinaryPackage, BuildDepField>,
): UnsatisfiedBuildDependency {
  const alternatives = relationProblems(root.clause.group, root.clause.dependerArch, checker, excludedBy);
  const conflicts = root.clause.candidates.map((c) => ({ package: ref(c), with: "Build-Conflicts" as const }));
  return {
    field: root.field,
    relation: root.clause.text,
    kind: alternatives[0]?.kind ?? "missing",
    alternatives,
    ...(conflicts.length > 0 ? { cause: { relation: root.clause.text, problems: alternatives, conflicts } } : {}),
  };
}

function transitiveProblem(
  groups: readonly RootGroup[],
  failure: InstallabilityFailure,
  excludedBy: ReadonlyMap<BinaryPackage, BuildDepField>,
  checker: InstallabilityChecker,
): UnsatisfiedBuildDependency {
  const root = groups[failure.root]!;
  const conflicts: ConflictRef[] = failure.blockers.map((b) => ({
    package: ref(b.candidate),
    with: b.kind === "excluded" ? "Build-Conflicts" : ref(b.kind === "conflict" ? b.with : b.chosen),
  }));
  const problems = relationProblems(failure.clause.group, failure.clause.dependerArch, checker, excludedBy);
  if (failure.chain.length === 0) {
    // the build-dependency itself: its candidates conflict with others needed
    return {
      field: root.field,
      relation: root.clause.text,
      kind: "conflict",
      alternatives: problems,
      cause: { relation: failure.clause.text, problems, conflicts },
    };
  }
  const alternatives = relationProblems(root.clause.group, root.clause.dependerArch, checker, excludedBy).map((p) =>
    p.kind === "conflict" || p.kind === "dependency" ? { ...p, kind: "dependency" as const } : p,
  );
  return {
    field: root.field,
    relation: root.clause.text,
    kind: "dependency",
    alternatives,
    chain: failure.chain.map((link) => ({ package: ref(link.package), relation: link.relation })),
    cause: { relation: failure.clause.text, problems, conflicts },
  };
}

// ---------------------------------------------------------------------------------------------
// One line of plain words

/** "A", "A or B", "A, B or C". */
function either(names: readonly string[]): string {
  if (names.length <= 1) return names[0] ?? "any index";
  return `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}

function listRefs(refs: readonly PackageRef[], show: (r: PackageRef) => string): string {
  const shown = refs.slice(0, 3).map(show);
  return refs.length > 3 ? `${shown.join(", ")} and ${refs.length - 3} more` : shown.join(", ");
}

/** One alternative's problem as a clause: "libfoo-dev (>= 1.0) is not in tag demo or debian/trixie". */
function describeProblem(p: RelationProblem, searched: readonly string[]): string {
  const where = either(searched);
  switch (p.kind) {
    case "missing":
      return `${p.relation} is not in ${where}`;
    case "version":
      return `${p.relation} is not in ${where} (${listRefs(p.available, (r) => `${r.origin} has ${r.name} ${r.version}`)})`;
    case "unversioned-provide":
      return `${p.relation} is not in ${where} (only provided without a version, by ${listRefs(p.available, (r) => r.name)})`;
    case "architecture":
      return `${p.relation} is not in ${where} for this architecture (${listRefs(p.available, (r) => `${r.name} ${r.version} is ${r.architecture}${r.multiArch ? `, Multi-Arch: ${r.multiArch}` : ", not Multi-Arch"}`)})`;
    case "conflict":
      return `${p.relation} is excluded by conflicts`;
    case "dependency":
      return `${p.relation} cannot be installed`;
    case "undecided":
      return `${p.relation} could not be decided`;
  }
}

function describeConflict(c: ConflictRef): string {
  const pkg = `${c.package.name} ${c.package.version}`;
  if (c.with === "Build-Conflicts") return `${pkg} is in the Build-Conflicts`;
  if (c.with.name === c.package.name) return `${pkg} would replace ${c.with.name} ${c.with.version}, which is needed too`;
  return `${pkg} conflicts with ${c.with.name} ${c.with.version}`;
}

function describeCause(cause: NonNullable<UnsatisfiedBuildDependency["cause"]>, searched: readonly string[]): string {
  if (cause.conflicts.length > 0) return `${cause.relation}: ${cause.conflicts.slice(0, 3).map(describeConflict).join(", ")}`;
  return cause.problems.map((p) => describeProblem(p, searched)).join(", and ") || `${cause.relation} cannot be satisfied`;
}

/**
 * One line of plain words for one unsatisfied build-dependency, e.g.
 * `libbarsdemo-dev (>= 1.0) is not in tag demo or debian/trixie`. `searched` names the indexes (the
 * result's own `searched` unless the caller words them differently).
 */
export function describeUnsatisfied(u: UnsatisfiedBuildDependency, searched: readonly string[]): string {
  const prefix = u.field === "Essential" ? "the Essential package " : u.field === "extra" ? "the builder's " : "";
  if (u.kind === "undecided") return `the build-dependencies could not be decided within the search limit`;
  if (u.chain !== undefined && u.chain.length > 0) {
    const path = [...u.chain.map((l) => `${l.package.name} ${l.package.version}`), u.cause!.relation].join(" → ");
    const together = u.combination ? " together with the other build-dependencies" : "";
    return `${prefix}${u.relation} cannot be installed${together} (${path}): ${describeCause(u.cause!, searched)}`;
  }
  if (u.cause !== undefined && u.cause.conflicts.length > 0) {
    return `${prefix}${u.relation} cannot be installed: ${u.cause.conflicts.slice(0, 3).map(describeConflict).join(", ")}`;
  }
  if (u.alternatives.length > 1)
    return `none of ${prefix}${u.relation}: ${u.alternatives.map((p) => describeProblem(p, searched)).join("; ")}`;
  const only = u.alternatives[0];
  return only === undefined ? `${prefix}${u.relation} cannot be satisfied` : `${prefix}${describeProblem(only, searched)}`;
}

/** The whole result in one line: "build-dependencies satisfiable", or each unsatisfied one joined with "; ". */
export function describeBuildDepCheck(result: BuildDepCheckResult, searched: readonly string[] = result.searched): string {
  if (result.satisfiable) return "build-dependencies satisfiable";
  return result.unsatisfied.map((u) => describeUnsatisfied(u, searched)).join("; ");
}
