/**
 * What apt could not satisfy, read from its output when `apt-get satisfy` (or install) fails: the
 * "The following packages have unmet dependencies:" section both apt solvers print (apt 2.x and 3.x,
 * classic and `--solver 3.0`):
 *
 *    satisfy:command-line : Depends: libc6-dev (>= 99) but 2.41-12+deb13u5 is to be installed
 *                           Depends: nosuch but it is not installable or
 *                                    make (< 1)
 *    libpython3.13 : Depends: libpython3.13-stdlib (= 3.13.5-2) but it is not installable
 *
 * and, when that section is missing, the `Broken X Depends on Y < ... > (>= 1)` lines of
 * Debug::pkgProblemResolver (which deb-mock turns on). `satisfy:command-line` is apt's name for the
 * build-dependencies themselves.
 */

export const APT_RELATION_TYPES = ["Depends", "Pre-Depends", "Conflicts", "Breaks", "Recommends"] as const;
export type AptRelationType = (typeof APT_RELATION_TYPES)[number];

export interface AptUnmetRelation {
  /** Whose relation it is: `satisfy:command-line` (the build-dependencies) or a package apt wanted to install. */
  package: string;
  type: AptRelationType;
  /** The relation as apt printed it, alternatives joined with " | " (apt writes `<` and `>` for `<=`/`<<`...). */
  relation: string;
  /** apt's reason per alternative ("it is not installable", "2.41-12 is to be installed"); "" where it gives none. */
  reasons: string[];
}

/** apt's name for the relations given on the `apt-get satisfy` command line. */
export const APT_SATISFY_PACKAGE = "satisfy:command-line";

const TYPES = APT_RELATION_TYPES.join("|");
const FIRST = new RegExp(`^ (\\S+) : (${TYPES}): (.*)$`);
const NEXT = new RegExp(`^\\s+(${TYPES}): (.*)$`);
const BROKEN = new RegExp(`^Broken (\\S+?)(?::[a-z0-9-]+)? (${TYPES}) on (\\S+?)(?::[a-z0-9-]+)? < [^>]*>(?: \\(([^)]*)\\))?$`);

/** One alternative's text: the relation and apt's reason after " but ", and whether " or" follows. */
function alternative(text: string): { relation: string; reason: string; more: boolean } {
  let rest = text.trimEnd();
  const more = rest.endsWith(" or");
  if (more) rest = rest.slice(0, -3);
  const but = rest.indexOf(" but ");
  return but < 0
    ? { relation: rest.trim(), reason: "", more }
    : { relation: rest.slice(0, but).trim(), reason: rest.slice(but + 5).trim(), more };
}

/** The relations apt reports as unmet, in its order; empty when the text has none (a network error, say). */
export function parseAptUnmet(text: string): AptUnmetRelation[] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => /unmet dependencies:\s*$/.test(l));
  if (start >= 0) {
    const out: Array<{ package: string; type: AptRelationType; alternatives: string[]; reasons: string[] }> = [];
    let moreAlternatives = false;
    let current: string | undefined;
    for (const line of lines.slice(start + 1)) {
      const first = FIRST.exec(line);
      const next = first ? undefined : NEXT.exec(line);
      let body: string;
      if (first) {
        current = first[1]!;
        out.push({ package: current, type: first[2] as AptRelationType, alternatives: [], reasons: [] });
        body = first[3]!;
      } else if (next && current !== undefined && !moreAlternatives) {
        out.push({ package: current, type: next[1] as AptRelationType, alternatives: [], reasons: [] });
        body = next[2]!;
      } else if (moreAlternatives && /^\s+\S/.test(line)) {
        body = line;
      } else break; // "E: ...", a blank line: the section is over
      const alt = alternative(body);
      const group = out[out.length - 1]!;
      group.alternatives.push(alt.relation);
      group.reasons.push(alt.reason);
      moreAlternatives = alt.more;
    }
    if (out.length > 0)
      return out.map((g) => ({ package: g.package, type: g.type, relation: g.alternatives.join(" | "), reasons: g.reasons }));
  }
  const seen = new Set<string>();
  const out: AptUnmetRelation[] = [];
  for (const line of lines) {
    const m = BROKEN.exec(line);
    if (!m) continue;
    const relation = m[4] === undefined ? m[3]! : `${m[3]} (${m[4]})`;
    const key = `${m[1]}\0${m[2]}\0${relation}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ package: m[1]!, type: m[2] as AptRelationType, relation, reasons: [""] });
  }
  return out;
}

const VERB: Record<AptRelationType, string> = {
  Depends: "needs",
  "Pre-Depends": "needs",
  Recommends: "recommends",
  Conflicts: "conflicts with",
  Breaks: "breaks",
};

/**
 * One unmet relation in plain words: `libfoo-dev (>= 1.0) (it is not installable)` for a
 * build-dependency, `python3.13 needs libpython3.13-stdlib (= 3.13.5-2) (it is not installable)` deeper down.
 */
export function describeAptUnmet(u: AptUnmetRelation): string {
  const reasons = u.reasons.filter(Boolean);
  const why = reasons.length > 0 ? ` (${reasons.join("; ")})` : "";
  if (u.package === APT_SATISFY_PACKAGE) return `${u.type === "Conflicts" ? "conflicts with " : ""}${u.relation}${why}`;
  return `${u.package} ${VERB[u.type]} ${u.relation}${why}`;
}
