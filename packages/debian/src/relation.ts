import { archMatches } from "./arch.js";
import { debianError } from "./errors.js";
import { compareVersions, type VersionOp, versionProblem } from "./version.js";

/**
 * Dependency relation fields (Depends, Pre-Depends, Recommends, Suggests, Breaks, Conflicts, Provides,
 * Build-Depends[-Arch|-Indep], Build-Conflicts[-Arch|-Indep]): a comma-separated AND of `|`-separated
 * alternatives, each `name[:archqual] [(op version)] [arch list] [<profiles>...]`, in that order.
 *
 * Parsing follows dpkg and dpkg-dev:
 * - names `[A-Za-z0-9][A-Za-z0-9+.-]*` (Policy wants lowercase and two characters; indexes comply);
 * - the obsolete `<` and `>` are accepted and mean `<=` and `>=` (as in dpkg, which warns); they are
 *   stored and formatted as `<=` and `>=`;
 * - the version is checked as `dpkg --compare-versions` would (lenient; see version.ts);
 * - empty elements between commas (`a, , b`, a trailing comma) are skipped as dpkg-dev does; an empty
 *   alternative (`a | | b`) is an error;
 * - whitespace includes newlines, so folded multi-line field values parse as they are.
 */

export interface ArchRestriction {
  readonly arch: string;
  readonly negated: boolean;
}

export interface ProfileTerm {
  readonly name: string;
  readonly negated: boolean;
}

export interface Relation {
  readonly name: string;
  /** `any`, `native` or an architecture name (`foo:any`). */
  readonly archQualifier?: string;
  readonly version?: { readonly op: VersionOp; readonly version: string };
  /** `[amd64 !i386 linux-any]`. */
  readonly architectures?: readonly ArchRestriction[];
  /** `<!nocheck> <stage1 cross>`: the relation applies when any `<...>` group holds (OR of ANDs). */
  readonly profiles?: ReadonlyArray<readonly ProfileTerm[]>;
}

/** Alternatives: satisfied when any one is. */
export type RelationGroup = readonly Relation[];
/** A whole field: every group must be satisfied. */
export type Relations = readonly RelationGroup[];

export interface ParseRelationsOptions {
  /** Field name for messages ("Build-Depends"). */
  field?: string;
  /** Where the field was read from ("hello_2.10-5.dsc"), for messages. */
  source?: string;
}

enum C {
  Tab = 9,
  Newline = 10,
  Return = 13,
  Space = 32,
  Bang = 33,
  LParen = 40,
  RParen = 41,
  Plus = 43,
  Comma = 44,
  Minus = 45,
  Dot = 46,
  Colon = 58,
  Lt = 60,
  Eq = 61,
  Gt = 62,
  LBracket = 91,
  RBracket = 93,
  Underscore = 95,
  Pipe = 124,
}

const isSpace = (c: number) => c === C.Space || c === C.Tab || c === C.Newline || c === C.Return;
const isAlnum = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isNameChar = (c: number) => isAlnum(c) || c === C.Plus || c === C.Minus || c === C.Dot;
const isArchChar = (c: number) => isAlnum(c) || c === C.Minus;
const isProfileChar = (c: number) => isAlnum(c) || c === C.Minus || c === C.Dot || c === C.Plus || c === C.Underscore;

class Parser {
  pos = 0;
  constructor(
    readonly text: string,
    readonly options: ParseRelationsOptions,
  ) {}

  fail(expected: string, at = this.pos): never {
    const before = this.text.slice(0, at);
    const line = before.split("\n").length;
    const column = at - (before.lastIndexOf("\n") + 1) + 1;
    const rest = this.text.slice(at);
    const found = rest === "" ? "end of field" : `'${rest.split(/[,\n]/)[0]!.slice(0, 40)}'`;
    // the whole comma-separated element, so the reader sees the offending relation in context
    const start = this.text.lastIndexOf(",", at - 1) + 1;
    const endComma = this.text.indexOf(",", at);
    const element = this.text.slice(start, endComma < 0 ? undefined : endComma).trim();
    const where = [this.options.source, this.options.field].filter(Boolean).join(": ");
    const position = line > 1 ? `line ${line}, column ${column}` : `column ${column}`;
    throw debianError("RELATION_SYNTAX", `${where ? `${where}: ` : ""}${position}: expected ${expected}, found ${found} in '${element}'`, {
      hint: "relations look like: name[:arch] [(op version)] [arch list] [<profiles>], alternatives with |, separated by commas",
      details: { field: this.options.field, source: this.options.source, line, column, text: element, near: rest.slice(0, 40) },
    });
  }

  skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length && isSpace(t.charCodeAt(this.pos))) this.pos++;
  }

  peek(): number {
    return this.pos < this.text.length ? this.text.charCodeAt(this.pos) : -1;
  }

  word(isChar: (c: number) => boolean, what: string): string {
    const start = this.pos;
    const t = this.text;
    if (this.pos >= t.length || !isAlnum(t.charCodeAt(this.pos))) this.fail(what);
    this.pos++;
    while (this.pos < t.length && isChar(t.charCodeAt(this.pos))) this.pos++;
    return t.slice(start, this.pos);
  }

  relations(): Relation[][] {
    const out: Relation[][] = [];
    const t = this.text;
    for (;;) {
      this.skipSpace();
      if (this.pos >= t.length) return out;
      if (this.peek() === C.Comma) {
        this.pos++;
        continue; // empty element
      }
      out.push(this.group());
      this.skipSpace();
      if (this.pos >= t.length) return out;
      if (this.peek() !== C.Comma) this.fail("',' or '|' between relations");
      this.pos++;
    }
  }

  group(): Relation[] {
    const alternatives = [this.relation()];
    for (;;) {
      this.skipSpace();
      if (this.peek() !== C.Pipe) return alternatives;
      this.pos++;
      this.skipSpace();
      alternatives.push(this.relation());
    }
  }

  relation(): Relation {
    const t = this.text;
    const name = this.word(isNameChar, "a package name");
    let archQualifier: string | undefined;
    if (this.peek() === C.Colon) {
      this.pos++;
      archQualifier = this.word(isArchChar, "an architecture qualifier (any, native or an architecture) after ':'");
    }
    const rel: { -readonly [K in keyof Relation]: Relation[K] } = { name };
    if (archQualifier !== undefined) rel.archQualifier = archQualifier;
    this.skipSpace();
    if (this.peek() === C.LParen) {
      this.pos++;
      this.skipSpace();
      const opStart = this.pos;
      let op: VersionOp;
      const c0 = this.peek();
      const c1 = this.pos + 1 < t.length ? t.charCodeAt(this.pos + 1) : -1;
      if (c0 === C.Lt) {
        op = c1 === C.Lt ? "<<" : "<=";
        this.pos += c1 === C.Lt || c1 === C.Eq ? 2 : 1; // a lone '<' is the obsolete form of '<='
      } else if (c0 === C.Gt) {
        op = c1 === C.Gt ? ">>" : ">=";
        this.pos += c1 === C.Gt || c1 === C.Eq ? 2 : 1; // a lone '>' is the obsolete form of '>='
      } else if (c0 === C.Eq) {
        op = "=";
        this.pos++;
      } else this.fail("a version relation (<< <= = >= >>) after '('", opStart);
      this.skipSpace();
      const vStart = this.pos;
      while (this.pos < t.length) {
        const c = t.charCodeAt(this.pos);
        if (c === C.RParen || isSpace(c) || c === C.Comma || c === C.Pipe) break;
        this.pos++;
      }
      if (vStart === this.pos) this.fail(`a version after '${op}'`, vStart);
      const version = t.slice(vStart, this.pos);
      const problem = versionProblem(version, { lenient: true });
      if (problem !== undefined) this.fail(`a valid version (${problem})`, vStart);
      this.skipSpace();
      if (this.peek() !== C.RParen) this.fail("')' after the version");
      this.pos++;
      rel.version = { op, version };
      this.skipSpace();
    }
    if (this.peek() === C.LBracket) {
      this.pos++;
      const architectures: ArchRestriction[] = [];
      for (;;) {
        this.skipSpace();
        if (this.peek() === C.RBracket) break;
        const negated = this.peek() === C.Bang;
        if (negated) this.pos++;
        architectures.push({ arch: this.word(isArchChar, "an architecture name or ']'"), negated });
      }
      if (architectures.length === 0) this.fail("at least one architecture in '[...]'");
      this.pos++;
      rel.architectures = architectures;
      this.skipSpace();
    }
    if (this.peek() === C.Lt) {
      const profiles: ProfileTerm[][] = [];
      while (this.peek() === C.Lt) {
        this.pos++;
        const terms: ProfileTerm[] = [];
        for (;;) {
          this.skipSpace();
          if (this.peek() === C.Gt) break;
          const negated = this.peek() === C.Bang;
          if (negated) this.pos++;
          terms.push({ name: this.word(isProfileChar, "a build profile name or '>'"), negated });
        }
        if (terms.length === 0) this.fail("at least one build profile in '<...>'");
        this.pos++;
        profiles.push(terms);
        this.skipSpace();
      }
      rel.profiles = profiles;
    }
    const next = this.peek();
    if (next === C.LParen || next === C.LBracket) {
      this.fail("the parts of a relation in the order (version) [architectures] <profiles>");
    }
    if (next !== -1 && next !== C.Comma && next !== C.Pipe) this.fail("',', '|' or the end of the field after a relation");
    return rel;
  }
}

/**
 * Parses a relation field into groups of alternatives (AND of OR). Throws RELATION_SYNTAX with the
 * line and column (1-based, within `text`) and the offending relation.
 */
export function parseRelations(text: string, options: ParseRelationsOptions = {}): Relation[][] {
  return new Parser(text, options).relations();
}

/** One relation, with its restrictions, in the canonical spelling dpkg-dev writes. */
export function formatRelation(rel: Relation): string {
  let s = rel.archQualifier === undefined ? rel.name : `${rel.name}:${rel.archQualifier}`;
  if (rel.version) s += ` (${rel.version.op} ${rel.version.version})`;
  if (rel.architectures) s += ` [${rel.architectures.map((a) => (a.negated ? `!${a.arch}` : a.arch)).join(" ")}]`;
  if (rel.profiles) {
    s += ` ${rel.profiles.map((g) => `<${g.map((p) => (p.negated ? `!${p.name}` : p.name)).join(" ")}>`).join(" ")}`;
  }
  return s;
}

/** A whole field: groups joined with ", ", alternatives with " | ". */
export function formatRelations(relations: Relations): string {
  return relations.map((group) => group.map(formatRelation).join(" | ")).join(", ");
}

/**
 * Whether a relation's architecture list includes `arch` (true when it has none). As dpkg-dev: a
 * positive entry that matches includes it; a negated entry that matches excludes it; a list of only
 * negated entries includes everything else. (Policy forbids mixing both kinds; dpkg-dev copes.)
 */
export function archRestrictionApplies(restrictions: readonly ArchRestriction[] | undefined, arch: string): boolean {
  if (restrictions === undefined) return true;
  let included = false;
  for (const r of restrictions) {
    if (r.negated) {
      if (archMatches(arch, r.arch)) return false;
      included = true;
    } else if (archMatches(arch, r.arch)) return true;
  }
  return included;
}

/** Whether a relation's build-profile formula holds for the active profiles (true when it has none). */
export function profilesApply(formula: Relation["profiles"], active: ReadonlySet<string> | readonly string[]): boolean {
  if (formula === undefined) return true;
  const set = active instanceof Set ? active : new Set(active as readonly string[]);
  return formula.some((group) => group.every((term) => set.has(term.name) !== term.negated));
}

export interface ReduceOptions {
  /** The host architecture the source is built for. */
  arch: string;
  /** Active build profiles (DEB_BUILD_PROFILES); none by default. */
  profiles?: readonly string[];
}

/**
 * What sbuild/apt do with Build-Depends before resolving: drop the alternatives whose architecture
 * list or build-profile formula excludes `arch`/`profiles`, drop groups left empty, and strip the
 * restrictions from what remains.
 */
export function reduceRelations(relations: Relations, options: ReduceOptions): Relation[][] {
  const active = new Set(options.profiles ?? []);
  const out: Relation[][] = [];
  for (const group of relations) {
    const kept: Relation[] = [];
    for (const rel of group) {
      if (!archRestrictionApplies(rel.architectures, options.arch) || !profilesApply(rel.profiles, active)) continue;
      if (rel.architectures === undefined && rel.profiles === undefined) kept.push(rel);
      else {
        const { architectures: _a, profiles: _p, ...bare } = rel;
        kept.push(bare);
      }
    }
    if (kept.length > 0) out.push(kept);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Evaluation against a set of packages

export type MultiArch = "no" | "same" | "foreign" | "allowed";

/** A package that may satisfy relations: an available (Packages index) or installed one. */
export interface PackageCandidate {
  readonly name: string;
  readonly version: string;
  /** A Debian architecture or `all`. */
  readonly architecture: string;
  readonly multiArch?: MultiArch;
  /** Virtual packages it provides; a provide satisfies a versioned relation only when it has a version. */
  readonly provides?: ReadonlyArray<{ readonly name: string; readonly version?: string }>;
}

export interface Provider<P extends PackageCandidate> {
  readonly package: P;
  readonly version?: string;
}

/** Anything with a case-insensitive `get(field)`, such as a deb822 Paragraph. */
export interface FieldSource {
  get(name: string): string | undefined;
}

/**
 * The packages relations are evaluated against, indexed by name and by provided name. `nativeArch`
 * is the architecture `all` packages and `:native` qualifiers stand for (the build architecture).
 */
export class PackageUniverse<P extends PackageCandidate = PackageCandidate> {
  readonly nativeArch: string;
  readonly #byName = new Map<string, P[]>();
  readonly #providers = new Map<string, Provider<P>[]>();
  #size = 0;

  constructor(nativeArch: string, packages: Iterable<P> = []) {
    this.nativeArch = nativeArch;
    for (const p of packages) this.add(p);
  }

  add(pkg: P): void {
    this.#size++;
    const list = this.#byName.get(pkg.name);
    if (list) list.push(pkg);
    else this.#byName.set(pkg.name, [pkg]);
    for (const prov of pkg.provides ?? []) {
      const entry: Provider<P> = prov.version === undefined ? { package: pkg } : { package: pkg, version: prov.version };
      const plist = this.#providers.get(prov.name);
      if (plist) plist.push(entry);
      else this.#providers.set(prov.name, [entry]);
    }
  }

  get size(): number {
    return this.#size;
  }

  packages(name: string): readonly P[] {
    return this.#byName.get(name) ?? [];
  }

  providers(name: string): readonly Provider<P>[] {
    return this.#providers.get(name) ?? [];
  }

  /** Builds a universe from Packages-index (or status-file) paragraphs. */
  static fromParagraphs(nativeArch: string, paragraphs: Iterable<FieldSource>): PackageUniverse<PackageCandidate> {
    const universe = new PackageUniverse<PackageCandidate>(nativeArch);
    for (const p of paragraphs) universe.add(candidateFromParagraph(p));
    return universe;
  }
}

/** The relation-relevant fields of a Packages stanza: Package, Version, Architecture, Multi-Arch, Provides. */
export function candidateFromParagraph(p: FieldSource): PackageCandidate {
  const name = p.get("Package");
  const version = p.get("Version");
  const architecture = p.get("Architecture");
  if (!name || !version || !architecture) {
    throw debianError("DEB822_MISSING_FIELD", `package stanza ${name ?? "(no Package field)"} lacks Package, Version or Architecture`);
  }
  const ma = p.get("Multi-Arch");
  const providesText = p.get("Provides");
  const provides = providesText
    ? parseRelations(providesText, { field: "Provides", source: name }).map(([rel]) =>
        rel!.version?.op === "=" ? { name: rel!.name, version: rel!.version.version } : { name: rel!.name },
      )
    : undefined;
  return {
    name,
    version,
    architecture,
    ...(ma === "same" || ma === "foreign" || ma === "allowed" || ma === "no" ? { multiArch: ma } : {}),
    ...(provides ? { provides } : {}),
  };
}

export interface SatisfyOptions {
  /** Architecture of the package that declares the relation (default: the universe's native one; `all` means native). */
  arch?: string;
  /** Conflicts/Breaks semantics: `:any` then matches every architecture (as in dpkg). */
  negative?: boolean;
}

export type Satisfaction<P extends PackageCandidate> =
  | {
      readonly satisfied: true;
      /** Index of the alternative that is satisfied (the first that is, as apt tries them in order). */
      readonly alternative: number;
      readonly relation: Relation;
      /** The best package for it: the highest version, real packages before providers. */
      readonly package: P;
      /** Set when the package satisfies the relation through Provides. */
      readonly provides?: { readonly name: string; readonly version?: string };
    }
  | {
      readonly satisfied: false;
      /** One reason per alternative, in order. */
      readonly reasons: readonly string[];
    };

function archSatisfied(pkg: PackageCandidate, rel: Relation, dependerArch: string, nativeArch: string, negative: boolean): boolean {
  // dpkg's archsatisfied(): an implicit qualifier takes the depender's architecture, and
  // Multi-Arch: foreign packages satisfy it from any architecture; `:any` needs Multi-Arch: allowed.
  const q = rel.archQualifier;
  if (q === undefined && pkg.multiArch === "foreign") return true;
  if (q === "any" && (pkg.multiArch === "allowed" || negative)) return true;
  let depArch = q === undefined ? dependerArch : q === "native" ? nativeArch : q;
  if (depArch === "all") depArch = nativeArch;
  const pkgArch = pkg.architecture === "all" ? nativeArch : pkg.architecture;
  return depArch === pkgArch;
}

function describe(pkg: PackageCandidate): string {
  return `${pkg.name} ${pkg.version} (${pkg.architecture}${pkg.multiArch && pkg.multiArch !== "no" ? `, Multi-Arch: ${pkg.multiArch}` : ""})`;
}

function summarize(list: string[]): string {
  return list.length <= 4 ? list.join(", ") : `${list.slice(0, 4).join(", ")} and ${list.length - 4} more`;
}

/** Everything the universe has under a relation's name, sorted into what satisfies it and why the rest does not. */
export interface RelationMatch<P extends PackageCandidate> {
  /** Packages of that name that satisfy it, highest version first. */
  readonly packages: P[];
  /** Providers that satisfy it, the provider with the highest version first. */
  readonly providers: Provider<P>[];
  /** Packages of that name whose architecture fits but whose version does not. */
  readonly wrongVersion: P[];
  /** Packages of that name for another architecture (or without the Multi-Arch the qualifier needs). */
  readonly wrongArch: P[];
  /** Providers without a version, which cannot satisfy a versioned relation. */
  readonly unversionedProviders: P[];
  /** Providers for another architecture. */
  readonly providersWrongArch: P[];
  /** Versioned providers whose provided version does not fit. */
  readonly providersWrongVersion: Provider<P>[];
}

const byVersionDesc = <P extends PackageCandidate>(a: P, b: P) => compareVersions(b.version, a.version);

/** Sorts the universe's packages and providers of a relation's name into satisfying and not (with why). */
export function matchRelation<P extends PackageCandidate>(
  rel: Relation,
  universe: PackageUniverse<P>,
  options: SatisfyOptions = {},
): RelationMatch<P> {
  const dependerArch = options.arch === undefined || options.arch === "all" ? universe.nativeArch : options.arch;
  const negative = options.negative === true;
  const c = rel.version;
  const match: RelationMatch<P> = {
    packages: [],
    providers: [],
    wrongVersion: [],
    wrongArch: [],
    unversionedProviders: [],
    providersWrongArch: [],
    providersWrongVersion: [],
  };
  for (const pkg of universe.packages(rel.name)) {
    if (!archSatisfied(pkg, rel, dependerArch, universe.nativeArch, negative)) match.wrongArch.push(pkg);
    else if (c !== undefined && !opHolds(c.op, compareVersions(pkg.version, c.version))) match.wrongVersion.push(pkg);
    else match.packages.push(pkg);
  }
  for (const prov of universe.providers(rel.name)) {
    if (!archSatisfied(prov.package, rel, dependerArch, universe.nativeArch, negative)) match.providersWrongArch.push(prov.package);
    else if (c !== undefined && prov.version === undefined) match.unversionedProviders.push(prov.package);
    else if (c !== undefined && prov.version !== undefined && !opHolds(c.op, compareVersions(prov.version, c.version))) {
      match.providersWrongVersion.push(prov);
    } else match.providers.push(prov);
  }
  if (match.packages.length > 1) match.packages.sort(byVersionDesc);
  if (match.providers.length > 1) match.providers.sort((a, b) => byVersionDesc(a.package, b.package));
  return match;
}

/** Why one relation is or is not satisfied by the universe. */
export function satisfyRelation<P extends PackageCandidate>(
  rel: Relation,
  universe: PackageUniverse<P>,
  options: SatisfyOptions = {},
): { package: P; provides?: { name: string; version?: string } } | { reason: string } {
  const dependerArch = options.arch === undefined || options.arch === "all" ? universe.nativeArch : options.arch;
  const m = matchRelation(rel, universe, options);
  const best = m.packages[0];
  if (best !== undefined) return { package: best };
  const bestProvider = m.providers[0];
  if (bestProvider !== undefined) {
    return {
      package: bestProvider.package,
      provides: bestProvider.version === undefined ? { name: rel.name } : { name: rel.name, version: bestProvider.version },
    };
  }
  const wrongVersion = m.wrongVersion.map(describe);
  const wrongArch = m.wrongArch.map(describe);
  const unversioned = m.unversionedProviders.map((p) => p.name);
  const providerWrong = [
    ...m.providersWrongArch.map((p) => `${describe(p)} provides it for another architecture`),
    ...m.providersWrongVersion.map((prov) => `${prov.package.name} provides ${rel.name} (= ${prov.version})`),
  ];

  const wanted = formatRelation(rel);
  const parts: string[] = [];
  if (wrongVersion.length > 0) parts.push(`available: ${summarize(wrongVersion)}`);
  if (wrongArch.length > 0) {
    const need =
      rel.archQualifier === "any"
        ? "':any' needs Multi-Arch: allowed"
        : `needs architecture ${rel.archQualifier === undefined ? dependerArch : rel.archQualifier === "native" ? universe.nativeArch : rel.archQualifier} or Multi-Arch: foreign`;
    parts.push(`wrong architecture: ${summarize(wrongArch)} (${need})`);
  }
  if (unversioned.length > 0) {
    parts.push(`provided without a version by ${summarize(unversioned)}, which cannot satisfy a versioned relation`);
  }
  if (providerWrong.length > 0) parts.push(summarize(providerWrong));
  if (parts.length === 0) return { reason: `${wanted}: no package of that name and nothing provides it` };
  return { reason: `${wanted}: ${parts.join("; ")}` };
}

function opHolds(op: VersionOp, cmp: number): boolean {
  switch (op) {
    case "<<":
      return cmp < 0;
    case "<=":
      return cmp <= 0;
    case "=":
      return cmp === 0;
    case ">=":
      return cmp >= 0;
    case ">>":
      return cmp > 0;
  }
}

/**
 * Whether a group of alternatives is satisfied by the universe: which alternative and package do it,
 * or one reason per alternative. Restrictions ([arch], <profiles>) are not looked at: call
 * reduceRelations first.
 */
export function satisfyGroup<P extends PackageCandidate>(
  group: RelationGroup,
  universe: PackageUniverse<P>,
  options: SatisfyOptions = {},
): Satisfaction<P> {
  const reasons: string[] = [];
  for (let i = 0; i < group.length; i++) {
    const rel = group[i]!;
    const r = satisfyRelation(rel, universe, options);
    if ("package" in r) {
      return r.provides === undefined
        ? { satisfied: true, alternative: i, relation: rel, package: r.package }
        : { satisfied: true, alternative: i, relation: rel, package: r.package, provides: r.provides };
    }
    reasons.push(r.reason);
  }
  return { satisfied: false, reasons };
}

/** The groups of a whole field that the universe cannot satisfy, each with its reasons (empty: all satisfied). */
export function unsatisfiedRelations<P extends PackageCandidate>(
  relations: Relations,
  universe: PackageUniverse<P>,
  options: SatisfyOptions = {},
): Array<{ group: RelationGroup; text: string; reasons: readonly string[] }> {
  const out: Array<{ group: RelationGroup; text: string; reasons: readonly string[] }> = [];
  for (const group of relations) {
    const s = satisfyGroup(group, universe, options);
    if (!s.satisfied) out.push({ group, text: group.map(formatRelation).join(" | "), reasons: s.reasons });
  }
  return out;
}
