import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultMirror } from "./apt-sources.js";
import { archMatches } from "./arch.js";
import { BinaryPackageIndex } from "./binary-package-index.js";
import { type BuildDepCheckResult, checkBuildDependencies, describeBuildDepCheck } from "./build-dep-check.js";
import { formatDeb822, iterateDeb822, Paragraph } from "./deb822.js";
import { cachedIndex } from "./index-cache.js";
import { InstallabilityChecker } from "./installability.js";
import { readRepository } from "./repository-reader.js";

/**
 * Differential test of checkBuildDependencies against dose-builddebcheck (Debian's dose-extra) on
 * real trixie main amd64 data, the same files given to both:
 * - a deterministic sample of real trixie sources (those buildable on amd64 whose name hashes into the
 *   first 2/256 of SHA256 space) against the real Packages index, where nearly all are satisfiable;
 * - the same sample against a damaged copy of the index (every package whose name hashes into the
 *   first 4/256 removed, except what Essential and build-essential need), where many are not, for
 *   missing packages several levels down;
 * - crafted sources for missing packages, versions too low and too high, architecture qualifiers,
 *   architecture lists, build profiles, versioned and unversioned Provides and Build-Conflicts.
 * Each source must get the same verdict (satisfiable or not) from both, except the intentional
 * differences listed in INTENTIONAL. Essential packages are part of every installation on both sides
 * (dose's default), and neither adds build-essential. Indexes are cached under /var/cache/debian-bootc, keyed by their Release
 * hash.
 */

const CACHE = "/var/cache/debian-bootc";
const ARCH = "amd64";

let work = "";
let fullIndex: BinaryPackageIndex;
let damagedIndex: BinaryPackageIndex;
let packagesText = "";
let damagedText = "";
let sample: Paragraph[] = [];

const nameHash = (name: string) => createHash("sha256").update(name).digest()[0]!;
const buildableHere = (p: Paragraph) => (p.get("Architecture") ?? "").split(/\s+/).some((a) => a === "all" || archMatches(ARCH, a));

function crafted(name: string, buildDepends: string, buildConflicts?: string): Paragraph {
  const p = new Paragraph({ Package: name, Version: "1.0-1", Architecture: "any", "Build-Depends": buildDepends });
  if (buildConflicts !== undefined) p.set("Build-Conflicts", buildConflicts);
  return p;
}

/** Crafted cases with what each should be (asserted for both tools, so a case that cannot fail is caught). */
const craftedCases: Array<{ source: Paragraph; satisfiable: boolean }> = [
  { source: crafted("x-missing", "debhelper-compat (= 13), libbarsdemo-dev (>= 1.0)"), satisfiable: false },
  { source: crafted("x-too-low", "libc6-dev (>= 99)"), satisfiable: false },
  { source: crafted("x-too-high", "libc6-dev (<< 1)"), satisfiable: false },
  { source: crafted("x-version-ok", "libc6-dev (>= 2.36), make (<< 99)"), satisfiable: true },
  { source: crafted("x-any-allowed", "python3:any, perl:any"), satisfiable: true },
  { source: crafted("x-any-not-allowed", "libc6:any"), satisfiable: false },
  { source: crafted("x-native", "libc6-dev:native, make:native"), satisfiable: true },
  { source: crafted("x-arch-list", "nosuch-pkg [i386 arm64], make [amd64], other-missing [!amd64]"), satisfiable: true },
  { source: crafted("x-arch-list-here", "nosuch-pkg [linux-any]"), satisfiable: false },
  { source: crafted("x-profile-kept", "make, nosuch-pkg <!nocheck>"), satisfiable: false },
  { source: crafted("x-profile-named", "make, nosuch-pkg <pkg.demo.extra>"), satisfiable: true },
  { source: crafted("x-profile-not", "make, nosuch-pkg <!pkg.demo.extra>"), satisfiable: false },
  { source: crafted("x-versioned-provides", "debhelper-compat (= 13)"), satisfiable: true },
  { source: crafted("x-versioned-provides-wrong", "debhelper-compat (= 99)"), satisfiable: false },
  { source: crafted("x-unversioned-provides", "awk"), satisfiable: true },
  { source: crafted("x-unversioned-provides-versioned", "mail-transport-agent (>= 1)"), satisfiable: false },
  { source: crafted("x-alternatives", "nosuch-pkg | make, nosuch-other | libc6-dev (>= 2)"), satisfiable: true },
  { source: crafted("x-alternatives-none", "nosuch-pkg | libc6-dev (>= 99)"), satisfiable: false },
  { source: crafted("x-build-conflicts", "make", "make"), satisfiable: false },
  { source: crafted("x-build-conflicts-deep", "gcc", "cpp"), satisfiable: false },
  { source: crafted("x-build-conflicts-version", "make", "make (<< 1)"), satisfiable: true },
  { source: crafted("x-build-conflicts-essential", "make", "dpkg"), satisfiable: false },
  { source: crafted("x-conflicting-pair", "default-mta, postfix"), satisfiable: false },
];

/**
 * Where we answer differently from dose on purpose, and why. `libc6:any`: dpkg (dpkg-checkbuilddeps,
 * which dpkg-buildpackage runs before building, and dpkg's own archsatisfied()) lets `:any` be satisfied
 * only by a Multi-Arch: allowed package; dose also accepts a package of the native architecture. The
 * build would stop at dpkg-checkbuilddeps, so "unsatisfiable" is the useful answer.
 */
const INTENTIONAL = new Map([["x-any-not-allowed", "ok"]]);

/** dose-builddebcheck's verdict per source name ("ok" or "broken"). */
async function dose(packagesFile: string, sources: readonly Paragraph[]): Promise<Map<string, string>> {
  const sourcesFile = join(
    work,
    `Sources-${createHash("sha256")
      .update(sources.map((s) => s.get("Package")).join())
      .digest("hex")
      .slice(0, 8)}`,
  );
  await writeFile(sourcesFile, formatDeb822(sources));
  const args = [`--deb-native-arch=${ARCH}`, "--successes", "--failures"];
  // exit status 1 means "some are broken", which is an answer, not a failure
  const result = await run("dose-builddebcheck", [...args, packagesFile, sourcesFile], {
    timeoutMs: 600_000,
    okCodes: [1],
    debianPackage: "dose-builddebcheck",
  });
  const verdicts = new Map<string, string>();
  for (const block of result.stdout.split(/\n -\n/).slice(1)) {
    const name = /^ {2}package: (\S+)/m.exec(block)?.[1];
    const status = /^ {2}status: (\S+)/m.exec(block)?.[1];
    if (name !== undefined && status !== undefined) verdicts.set(name, status);
  }
  return verdicts;
}

function compare(index: BinaryPackageIndex, sources: readonly Paragraph[], verdicts: Map<string, string>) {
  const checker = new InstallabilityChecker(index);
  const differences: string[] = [];
  let compared = 0;
  let unsatisfiable = 0;
  for (const source of sources) {
    const name = source.get("Package")!;
    const theirs = verdicts.get(name);
    if (theirs === undefined) continue;
    const ours: BuildDepCheckResult = checkBuildDependencies(source, checker, { arch: ARCH });
    compared++;
    if (!ours.satisfiable) unsatisfiable++;
    if ((ours.satisfiable ? "ok" : "broken") !== theirs && INTENTIONAL.get(name) !== theirs)
      differences.push(`${name}: dose says ${theirs}, we say ${ours.status}: ${describeBuildDepCheck(ours)}`);
  }
  return { compared, unsatisfiable, differences };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "build-dep-check-"));
  const reader = await readRepository(await defaultMirror(), {
    suite: "trixie",
    keyring: { path: "/usr/share/keyrings/debian-archive-keyring.gpg" },
    verifier: "gpgv",
  });
  packagesText = (await cachedIndex(reader, `main/binary-${ARCH}/Packages`, CACHE)).text;
  const sourcesText = (await cachedIndex(reader, "main/source/Sources", CACHE)).text;
  const paragraphs = [...iterateDeb822(packagesText)];
  fullIndex = BinaryPackageIndex.fromIndexes(ARCH, [{ name: "debian/trixie", paragraphs }]);

  // keep what Essential and build-essential need, then drop a deterministic slice of the rest
  const base = checkBuildDependencies(new Paragraph({ Package: "base", "Build-Depends": "build-essential" }), fullIndex, { arch: ARCH });
  expect(base.satisfiable).toBe(true);
  const keep = new Set(base.installSet!.map((p) => p.name));
  const kept = paragraphs.filter((p) => keep.has(p.get("Package")!) || nameHash(p.get("Package")!) >= 4);
  damagedIndex = BinaryPackageIndex.fromIndexes(ARCH, [{ name: "damaged trixie", paragraphs: kept }]);
  damagedText = formatDeb822(kept);
  await writeFile(join(work, "Packages"), packagesText);
  await writeFile(join(work, "Packages.damaged"), damagedText);

  sample = [...iterateDeb822(sourcesText)].filter((s) => nameHash(s.get("Package")!) < 2 && buildableHere(s));
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("build-dependency check against dose-builddebcheck on trixie main amd64", () => {
  it("agrees on a sample of real sources with the real index, and on crafted cases", async () => {
    const sources = craftedCases.map((c) => c.source);
    const verdicts = await dose(join(work, "Packages"), [...sample, ...sources]);
    const r = compare(fullIndex, sample, verdicts);
    expect(sample.length).toBeGreaterThan(200);
    expect(r.compared).toBe(sample.length); // dose answered for each
    expect(r.differences).toEqual([]);

    const c = compare(fullIndex, sources, verdicts);
    expect(c.compared).toBe(sources.length);
    expect(c.differences).toEqual([]);
    // each crafted case gets the verdict it was made for (ours; dose's where it is not an intentional difference)
    const checker = new InstallabilityChecker(fullIndex);
    for (const { source, satisfiable } of craftedCases) {
      const name = source.get("Package")!;
      expect(`${name}: ${checkBuildDependencies(source, checker, { arch: ARCH }).satisfiable}`).toBe(`${name}: ${satisfiable}`);
      const expectedDose = INTENTIONAL.get(name) ?? (satisfiable ? "ok" : "broken");
      expect(`${name}: ${verdicts.get(name)}`).toBe(`${name}: ${expectedDose}`);
    }
  });

  it("agrees on the same sample with packages missing from the index, satisfiable or not", async () => {
    const verdicts = await dose(join(work, "Packages.damaged"), sample);
    const r = compare(damagedIndex, sample, verdicts);
    expect(r.compared).toBe(sample.length);
    expect(r.differences).toEqual([]);
    // the damage must bite: both tools find a good share unsatisfiable, and not all
    expect(r.unsatisfiable).toBeGreaterThan(sample.length / 10);
    expect(r.unsatisfiable).toBeLessThan(sample.length);
  });
});
