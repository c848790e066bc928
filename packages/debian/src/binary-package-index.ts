import { candidateFromParagraph, type FieldSource, type PackageCandidate, PackageUniverse } from "./relation.js";

/**
 * Binary packages of one or more Packages indexes (a tag's repository, then external ones such as
 * Debian trixie main), indexed by name and by provided name, for build-dependency and installability
 * checks. Each package remembers which index it came from under the name the caller gave that index
 * ("tag demo", "debian/trixie"), so that messages can say where something was looked for.
 *
 * The relation fields a solver follows (Pre-Depends, Depends, Conflicts, Breaks) are kept as text and
 * parsed only for the packages a check reaches: most of a 70,000-package index is never looked at.
 */

export interface BinaryPackage extends PackageCandidate {
  /** The caller's name for the index this package came from. */
  readonly origin: string;
  readonly essential: boolean;
  readonly preDepends?: string;
  readonly depends?: string;
  readonly conflicts?: string;
  readonly breaks?: string;
}

/** One Packages index to load: its stanzas and the name messages use for it. */
export interface NamedPackagesIndex {
  readonly name: string;
  readonly paragraphs: Iterable<FieldSource>;
}

const RELATION_FIELDS = [
  ["Pre-Depends", "preDepends"],
  ["Depends", "depends"],
  ["Conflicts", "conflicts"],
  ["Breaks", "breaks"],
] as const;

/** A BinaryPackage from a Packages stanza; `origin` names its index. */
export function binaryPackageFromParagraph(p: FieldSource, origin: string): BinaryPackage {
  const pkg: { -readonly [K in keyof BinaryPackage]: BinaryPackage[K] } = {
    ...candidateFromParagraph(p),
    origin,
    essential: p.get("Essential")?.trim().toLowerCase() === "yes",
  };
  for (const [field, key] of RELATION_FIELDS) {
    const value = p.get(field);
    if (value !== undefined && value.trim() !== "") pkg[key] = value;
  }
  return pkg;
}

export class BinaryPackageIndex extends PackageUniverse<BinaryPackage> {
  /** Names of the loaded indexes, in the order they were added (the order messages list them in). */
  readonly origins: string[] = [];
  readonly #essential: BinaryPackage[] = [];

  /** `nativeArch`: the build (and host) architecture; `all` packages count as it. */
  static fromIndexes(nativeArch: string, indexes: readonly NamedPackagesIndex[]): BinaryPackageIndex {
    const index = new BinaryPackageIndex(nativeArch);
    for (const { name, paragraphs } of indexes) index.addIndex(name, paragraphs);
    return index;
  }

  /** Adds every stanza of a Packages index under the name `origin`; returns how many were added. */
  addIndex(origin: string, paragraphs: Iterable<FieldSource>): number {
    if (!this.origins.includes(origin)) this.origins.push(origin);
    let count = 0;
    for (const p of paragraphs) {
      this.add(binaryPackageFromParagraph(p, origin));
      count++;
    }
    return count;
  }

  override add(pkg: BinaryPackage): void {
    super.add(pkg);
    if (pkg.essential) this.#essential.push(pkg);
    if (!this.origins.includes(pkg.origin)) this.origins.push(pkg.origin);
  }

  /** Packages marked Essential: yes (every version of each). */
  essentialPackages(): readonly BinaryPackage[] {
    return this.#essential;
  }
}
