import { readFileSync } from "node:fs";
import { type CodedError, isCodedError } from "@debian-bootc/core";
import { describe, expect, it } from "vitest";
import { archMatches, archTuple } from "./arch.js";
import {
  archRestrictionApplies,
  candidateFromParagraph,
  formatRelations,
  type PackageCandidate,
  PackageUniverse,
  parseRelations,
  reduceRelations,
  satisfyGroup,
  unsatisfiedRelations,
} from "./relation.js";

/** Real fields from trixie's Sources and Packages (scripts/make-relation-fixture.ts). */
const realFields = readFileSync(new URL("./__fixtures__/relations-trixie.txt", import.meta.url), "utf8")
  .split("\n")
  .filter((l) => l !== "" && !l.startsWith("#"))
  .map((l) => {
    const colon = l.indexOf(": ");
    return { field: l.slice(0, colon), value: l.slice(colon + 2) };
  });

function syntaxError(text: string): CodedError {
  try {
    parseRelations(text, { field: "Build-Depends", source: "foo.dsc" });
  } catch (error) {
    if (isCodedError(error, "RELATION_SYNTAX")) return error;
    throw error;
  }
  throw new Error(`parsed: ${text}`);
}

describe("parseRelations", () => {
  it("parses a full Build-Depends line into AND of OR with every part", () => {
    const rels = parseRelations(
      "debhelper-compat (= 13), gcc-13:native (>= 13.1~) [linux-any !hurd-i386] <!nocheck> <stage1 cross>, python3:any | python3-minimal:any, libc6-dev [amd64]",
    );
    expect(rels).toEqual([
      [{ name: "debhelper-compat", version: { op: "=", version: "13" } }],
      [
        {
          name: "gcc-13",
          archQualifier: "native",
          version: { op: ">=", version: "13.1~" },
          architectures: [
            { arch: "linux-any", negated: false },
            { arch: "hurd-i386", negated: true },
          ],
          profiles: [
            [{ name: "nocheck", negated: true }],
            [
              { name: "stage1", negated: false },
              { name: "cross", negated: false },
            ],
          ],
        },
      ],
      [
        { name: "python3", archQualifier: "any" },
        { name: "python3-minimal", archQualifier: "any" },
      ],
      [{ name: "libc6-dev", architectures: [{ arch: "amd64", negated: false }] }],
    ]);
  });

  it("accepts the obsolete < and > as <= and >= (as dpkg does) and writes them as such", () => {
    const rels = parseRelations("a (< 1), b (> 2), c (<< 3), d (>> 4), e (<= 5), f(>=6)");
    expect(rels.map((g) => g[0]!.version!.op)).toEqual(["<=", ">=", "<<", ">>", "<=", ">="]);
    expect(formatRelations(rels)).toBe("a (<= 1), b (>= 2), c (<< 3), d (>> 4), e (<= 5), f (>= 6)");
  });

  it("takes any whitespace, folded lines and empty elements like dpkg-dev", () => {
    const rels = parseRelations("\n a ( >=  1.0 ) ,\n\tb|c [ amd64 ] < !nocheck > ,\n , d,");
    expect(formatRelations(rels)).toBe("a (>= 1.0), b | c [amd64] <!nocheck>, d");
    expect(parseRelations("")).toEqual([]);
    expect(parseRelations("  \n ")).toEqual([]);
  });

  it(`parses and round-trips ${realFields.length} real fields from trixie`, () => {
    let relations = 0;
    for (const { field, value } of realFields) {
      const rels = parseRelations(value, { field });
      relations += rels.reduce((n, g) => n + g.length, 0);
      const text = formatRelations(rels);
      // the archive writes these fields canonically, modulo spaces inside brackets and parentheses
      expect(text, value).toBe(value.replace(/\s+/g, " ").replace(/\( /g, "(").replace(/ \)/g, ")"));
      expect(parseRelations(text)).toEqual(rels);
    }
    expect(realFields.length).toBeGreaterThan(400);
    expect(relations).toBeGreaterThan(5000);
  });

  it("reports the column and the offending relation", () => {
    const e = syntaxError("foo (>= 1.0), bar (~ 2), baz");
    expect(e.message).toMatch(/^foo\.dsc: Build-Depends: column 20: expected a version relation .* found '~ 2\)' in 'bar \(~ 2\)'/);
    expect(e.details).toMatchObject({ line: 1, column: 20, text: "bar (~ 2)", field: "Build-Depends" });
  });

  it("reports the line and column within a folded field", () => {
    const e = syntaxError("foo,\n bar (>= 1.0-),\n baz");
    expect(e.details).toMatchObject({ line: 2, column: 10 });
    expect(e.message).toMatch(/line 2, column 10: expected a valid version \(revision number is empty\)/);
  });

  it.each([
    ["foo (>= 1.0", "')' after the version"],
    ["foo (>=)", "a version after '>='"],
    ["foo | | bar", "a package name"],
    ["foo |", "a package name"],
    ["foo [amd64", "an architecture name or ']'"],
    ["foo []", "at least one architecture"],
    ["foo <>", "at least one build profile"],
    ["foo <!nocheck", "a build profile name or '>'"],
    ["foo bar", "',', '|' or the end of the field"],
    ["foo [amd64] (>= 1)", "in the order"],
    ["foo: any", "an architecture qualifier"],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a debian/control substitution variable, not a template
    ["${misc:Depends}", "a package name"],
    ["-foo", "a package name"],
    ["foo (>= 1:)", "nothing after colon"],
  ])("rejects %j", (text, expected) => {
    expect(syntaxError(text).message).toContain(expected);
  });
});

describe("architectures", () => {
  it("matches Debian wildcards through the abi-libc-os-cpu tuple", () => {
    expect(archTuple("armhf")).toEqual(["eabihf", "gnu", "linux", "arm"]);
    expect(archTuple("hurd-amd64")).toEqual(["base", "gnu", "hurd", "amd64"]);
    expect(archMatches("amd64", "linux-any")).toBe(true);
    expect(archMatches("amd64", "any-amd64")).toBe(true);
    expect(archMatches("x32", "any-amd64")).toBe(true);
    expect(archMatches("armel", "any-arm")).toBe(true);
    expect(archMatches("arm64", "any-arm")).toBe(false);
    expect(archMatches("hurd-i386", "linux-any")).toBe(false);
    expect(archMatches("hurd-i386", "hurd-any")).toBe(true);
    expect(archMatches("kfreebsd-amd64", "any-amd64")).toBe(true);
    expect(archMatches("musl-linux-amd64", "musl-linux-any")).toBe(true);
    expect(archMatches("amd64", "musl-linux-any")).toBe(false);
    expect(archMatches("amd64", "gnu-linux-any")).toBe(true);
    expect(archMatches("riscv64", "any")).toBe(true);
    expect(archMatches("all", "any")).toBe(false);
    expect(archMatches("amd64", "i386")).toBe(false);
    // the long form dpkg-dev still reads, found in real Build-Depends ([linux-amd64 linux-arm64])
    expect(archMatches("amd64", "linux-amd64")).toBe(true);
    expect(archMatches("hurd-amd64", "linux-amd64")).toBe(false);
    expect(archTuple("linux-armhf")).toEqual(["eabihf", "gnu", "linux", "arm"]);
  });

  it("evaluates lists like dpkg-dev: positive entries include, negated exclude", () => {
    const list = (s: string) => parseRelations(`x [${s}]`)[0]![0]!.architectures;
    expect(archRestrictionApplies(list("amd64 i386"), "i386")).toBe(true);
    expect(archRestrictionApplies(list("amd64 i386"), "arm64")).toBe(false);
    expect(archRestrictionApplies(list("!hurd-any !kfreebsd-any"), "amd64")).toBe(true);
    expect(archRestrictionApplies(list("!hurd-any !kfreebsd-any"), "hurd-i386")).toBe(false);
    expect(archRestrictionApplies(list("linux-any"), "hurd-amd64")).toBe(false);
    expect(archRestrictionApplies(undefined, "s390x")).toBe(true);
  });
});

describe("reduceRelations", () => {
  const bd = parseRelations(
    "debhelper-compat (= 13), libsystemd-dev [linux-any], libbsd-dev [!linux-any], python3-pytest <!nocheck>, " +
      "gcc-mingw-w64 <cross> | gcc <!cross>, dh-exec [amd64] <stage1>, libfoo-dev [i386] | libfoo2-dev",
  );

  it("keeps what applies to amd64 with no profiles, without the restrictions", () => {
    expect(formatRelations(reduceRelations(bd, { arch: "amd64" }))).toBe(
      "debhelper-compat (= 13), libsystemd-dev, python3-pytest, gcc, libfoo2-dev",
    );
  });

  it("follows the active profiles and the architecture", () => {
    expect(formatRelations(reduceRelations(bd, { arch: "hurd-i386", profiles: ["nocheck", "cross", "stage1"] }))).toBe(
      "debhelper-compat (= 13), libbsd-dev, gcc-mingw-w64, libfoo2-dev",
    );
    // [i386] names the architecture, not the CPU: hurd-i386 is not i386
    expect(formatRelations(reduceRelations(bd, { arch: "i386" }))).toContain("libfoo-dev | libfoo2-dev");
    expect(formatRelations(reduceRelations(bd, { arch: "amd64", profiles: ["stage1"] }))).toContain("dh-exec");
  });

  it("reduces every real Build-Depends of the fixture to restriction-free relations", () => {
    for (const { field, value } of realFields.filter((f) => f.field.startsWith("Build-"))) {
      const reduced = reduceRelations(parseRelations(value, { field }), { arch: "amd64" });
      for (const group of reduced) {
        expect(group.length).toBeGreaterThan(0);
        for (const rel of group) expect(rel.architectures ?? rel.profiles).toBeUndefined();
      }
    }
  });
});

describe("evaluation against a package universe", () => {
  const pkgs: PackageCandidate[] = [
    { name: "libc6", version: "2.41-12", architecture: "amd64", multiArch: "same" },
    { name: "libc6", version: "2.41-12", architecture: "i386", multiArch: "same" },
    { name: "python3", version: "3.13.5-1", architecture: "amd64", multiArch: "allowed" },
    { name: "perl", version: "5.40.1-6", architecture: "amd64", multiArch: "allowed" },
    { name: "make", version: "4.4.1-2", architecture: "amd64", multiArch: "foreign" },
    { name: "gcc-14", version: "14.2.0-19", architecture: "i386" },
    {
      name: "debhelper",
      version: "13.24.2",
      architecture: "all",
      provides: [{ name: "debhelper-compat", version: "13" }, { name: "dh-sequence-foo" }],
    },
    { name: "mawk", version: "1.3.4.20250131-1", architecture: "amd64", multiArch: "foreign", provides: [{ name: "awk" }] },
    { name: "cargo", version: "1.85.0+dfsg1-1", architecture: "amd64", provides: [{ name: "cargo-api", version: "2" }] },
  ];
  const universe = new PackageUniverse("amd64", pkgs);
  const check = (text: string, options = {}) => satisfyGroup(parseRelations(text)[0]!, universe, options);

  it("finds real packages with version and architecture checks", () => {
    const s = check("libc6 (>= 2.36)");
    expect(s).toMatchObject({ satisfied: true, alternative: 0, package: { name: "libc6", architecture: "amd64" } });
    expect(check("libc6 (>= 2.42)")).toEqual({
      satisfied: false,
      reasons: [
        "libc6 (>= 2.42): available: libc6 2.41-12 (amd64, Multi-Arch: same); " +
          "wrong architecture: libc6 2.41-12 (i386, Multi-Arch: same) (needs architecture amd64 or Multi-Arch: foreign)",
      ],
    });
    expect(check("libc6:i386")).toMatchObject({ satisfied: true, package: { architecture: "i386" } });
    expect(check("libc6", { arch: "i386" })).toMatchObject({ satisfied: true, package: { architecture: "i386" } });
  });

  it("takes the first satisfiable alternative", () => {
    expect(check("nonexistent | gcc-14 | make")).toMatchObject({ satisfied: true, alternative: 2, package: { name: "make" } });
  });

  it("applies Multi-Arch: foreign, allowed and :any like dpkg", () => {
    expect(check("make", { arch: "i386" })).toMatchObject({ satisfied: true, package: { name: "make" } });
    expect(check("python3:any", { arch: "i386" })).toMatchObject({ satisfied: true, package: { name: "python3" } });
    const noAllowed = check("libc6:any");
    expect(noAllowed.satisfied).toBe(false);
    expect(!noAllowed.satisfied && noAllowed.reasons[0]).toMatch(/':any' needs Multi-Arch: allowed/);
    // Conflicts semantics: :any matches every architecture
    expect(check("libc6:any", { negative: true }).satisfied).toBe(true);
    const cross = check("gcc-14");
    expect(!cross.satisfied && cross.reasons[0]).toMatch(
      /wrong architecture: gcc-14 14.2.0-19 \(i386\) \(needs architecture amd64 or Multi-Arch: foreign\)/,
    );
    expect(check("gcc-14:i386").satisfied).toBe(true);
    expect(check("perl:native", { arch: "arm64" }).satisfied).toBe(true);
    // arch:all packages count as the native architecture
    expect(check("debhelper", { arch: "i386" }).satisfied).toBe(false);
    expect(check("debhelper", { arch: "all" }).satisfied).toBe(true);
  });

  it("satisfies through Provides, versioned only by versioned provides (as apt)", () => {
    expect(check("debhelper-compat (= 13)")).toMatchObject({
      satisfied: true,
      package: { name: "debhelper" },
      provides: { name: "debhelper-compat", version: "13" },
    });
    expect(check("awk")).toMatchObject({ satisfied: true, package: { name: "mawk" }, provides: { name: "awk" } });
    expect(check("awk", { arch: "i386" }).satisfied).toBe(true); // mawk is Multi-Arch: foreign
    const versioned = check("awk (>= 1)");
    expect(!versioned.satisfied && versioned.reasons[0]).toMatch(
      /provided without a version by mawk, which cannot satisfy a versioned relation/,
    );
    const tooOld = check("debhelper-compat (>= 14)");
    expect(!tooOld.satisfied && tooOld.reasons[0]).toContain("debhelper provides debhelper-compat (= 13)");
    expect(check("cargo-api (>= 2)").satisfied).toBe(true);
  });

  it("explains every unsatisfied group of a field", () => {
    const unsat = unsatisfiedRelations(parseRelations("libc6, foo | bar (>= 2), make (>= 5)"), universe);
    expect(unsat.map((u) => u.text)).toEqual(["foo | bar (>= 2)", "make (>= 5)"]);
    expect(unsat[0]!.reasons).toEqual([
      "foo: no package of that name and nothing provides it",
      "bar (>= 2): no package of that name and nothing provides it",
    ]);
  });

  it("builds from Packages paragraphs", () => {
    const fields = new Map([
      ["package", "rustc"],
      ["version", "1.85.0+dfsg1-1"],
      ["architecture", "amd64"],
      ["multi-arch", "allowed"],
      ["provides", "rustc-abi (= 1.85), rust-compiler"],
    ]);
    const candidate = candidateFromParagraph({ get: (n) => fields.get(n.toLowerCase()) });
    expect(candidate).toEqual({
      name: "rustc",
      version: "1.85.0+dfsg1-1",
      architecture: "amd64",
      multiArch: "allowed",
      provides: [{ name: "rustc-abi", version: "1.85" }, { name: "rust-compiler" }],
    });
    const u = PackageUniverse.fromParagraphs("amd64", [{ get: (n) => fields.get(n.toLowerCase()) }]);
    expect(u.size).toBe(1);
    expect(u.providers("rustc-abi")).toHaveLength(1);
    expect(satisfyGroup(parseRelations("rustc-abi (>= 1.80)")[0]!, u).satisfied).toBe(true);
  });
});
