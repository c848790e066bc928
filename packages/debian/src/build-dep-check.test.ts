import { describe, expect, it } from "vitest";
import { BinaryPackageIndex } from "./binary-package-index.js";
import { type BuildDepCheckOptions, checkBuildDependencies, describeBuildDepCheck } from "./build-dep-check.js";
import { Paragraph, parseDeb822 } from "./deb822.js";
import { InstallabilityChecker } from "./installability.js";
import { parseRelations } from "./relation.js";

const trixie = `
Package: libc6
Version: 2.41-12
Architecture: amd64
Multi-Arch: same
Priority: required

Package: base-files
Version: 13.8
Architecture: amd64
Essential: yes
Depends: libc6

Package: build-essential
Version: 12.12
Architecture: amd64
Depends: make, gcc

Package: make
Version: 4.4.1-2
Architecture: amd64
Multi-Arch: foreign

Package: gcc
Version: 4:14.2.0-1
Architecture: amd64
Depends: libc6 (>= 2.41)

Package: python3
Version: 3.13.5-1
Architecture: amd64
Multi-Arch: allowed

Package: perl
Version: 5.40.1-6
Architecture: amd64

Package: libfoo-dev
Version: 0.9-1
Architecture: amd64
Depends: libfoo1 (= 0.9-1)

Package: libfoo1
Version: 0.9-1
Architecture: amd64

Package: debhelper
Version: 13.24.2
Architecture: all
Provides: debhelper-compat (= 13), dh-sequence-foo

Package: mawk
Version: 1.3.4-1
Architecture: amd64
Multi-Arch: foreign
Provides: awk

Package: tool-i386
Version: 1.0
Architecture: i386

Package: foreign-tool
Version: 1.0
Architecture: i386
Multi-Arch: foreign

Package: needs-missing
Version: 1.0
Architecture: amd64
Depends: libgone1 (>= 2)

Package: alt-good
Version: 1.0
Architecture: amd64

Package: pulls-gcc
Version: 1.0
Architecture: amd64
Depends: gcc

Package: hates-gcc
Version: 1.0
Architecture: amd64
Conflicts: gcc

Package: old-libfoo-user
Version: 1.0
Architecture: amd64
Depends: libfoo1 (<< 0.5)

Package: breaks-perl
Version: 1.0
Architecture: amd64
Breaks: perl (<< 6)

Package: picky
Version: 1.0
Architecture: amd64
Depends: needs-missing | alt-good

Package: anti-base
Version: 1.0
Architecture: all
Conflicts: base-files
`;

const tag = `
Package: libbar-dev
Version: 2.0-1
Architecture: amd64
Provides: libbar-api (= 2)
`;

function index(): BinaryPackageIndex {
  return BinaryPackageIndex.fromIndexes("amd64", [
    { name: "tag demo", paragraphs: parseDeb822(tag) },
    { name: "debian/trixie", paragraphs: parseDeb822(trixie) },
  ]);
}

const source = (fields: Record<string, string>) => new Paragraph({ Source: "demo", ...fields });
function check(buildDepends: string, options: Partial<BuildDepCheckOptions> = {}, extra: Record<string, string> = {}) {
  return checkBuildDependencies(source({ "Build-Depends": buildDepends, ...extra }), index(), { arch: "amd64", ...options });
}
const say = (buildDepends: string, options: Partial<BuildDepCheckOptions> = {}, extra: Record<string, string> = {}) =>
  describeBuildDepCheck(check(buildDepends, options, extra));

describe("checkBuildDependencies", () => {
  it("satisfies real, provided and architecture-independent packages, with Essential ones in the install set", () => {
    const r = check("make, gcc, debhelper-compat (= 13), dh-sequence-foo, awk, libbar-dev (>= 2)");
    expect(r).toMatchObject({ status: "satisfiable", satisfiable: true, unsatisfied: [], searched: ["tag demo", "debian/trixie"] });
    expect(r.installSet!.map((p) => p.name)).toEqual(["base-files", "debhelper", "gcc", "libbar-dev", "libc6", "make", "mawk"]);
    expect(r.installSet!.find((p) => p.name === "libbar-dev")?.origin).toBe("tag demo");
  });

  it("says a missing package in one line, naming the indexes searched", () => {
    const r = check("make, libbarsdemo-dev (>= 1.0)");
    expect(r.status).toBe("unsatisfiable");
    expect(r.unsatisfied).toMatchObject([{ field: "Build-Depends", relation: "libbarsdemo-dev (>= 1.0)", kind: "missing" }]);
    expect(describeBuildDepCheck(r)).toBe("libbarsdemo-dev (>= 1.0) is not in tag demo or debian/trixie");
  });

  it("tells a version too low or too high, with what each index has", () => {
    expect(check("libfoo-dev (>= 1.0)").unsatisfied[0]).toMatchObject({
      kind: "version",
      alternatives: [{ available: [{ version: "0.9-1" }] }],
    });
    expect(say("libfoo-dev (>= 1.0)")).toBe("libfoo-dev (>= 1.0) is not in tag demo or debian/trixie (debian/trixie has libfoo-dev 0.9-1)");
    expect(say("libbar-dev (<< 2)")).toBe("libbar-dev (<< 2) is not in tag demo or debian/trixie (tag demo has libbar-dev 2.0-1)");
    expect(check("libfoo-dev (<= 0.9-1)").satisfiable).toBe(true);
  });

  it("uses versioned Provides for versioned relations and unversioned ones only for unversioned relations", () => {
    expect(check("libbar-api (>= 2)").satisfiable).toBe(true);
    expect(say("libbar-api (>= 3)")).toBe("libbar-api (>= 3) is not in tag demo or debian/trixie (tag demo has libbar-dev 2.0-1)");
    expect(check("awk").satisfiable).toBe(true);
    const r = check("awk (>= 1)");
    expect(r.unsatisfied[0]).toMatchObject({ kind: "unversioned-provide" });
    expect(describeBuildDepCheck(r)).toBe("awk (>= 1) is not in tag demo or debian/trixie (only provided without a version, by mawk)");
  });

  it("applies architecture qualifiers and Multi-Arch like dpkg", () => {
    expect(check("python3:any, python3:native, perl:native").satisfiable).toBe(true);
    const anyNotAllowed = check("perl:any");
    expect(anyNotAllowed.unsatisfied[0]).toMatchObject({ kind: "architecture" });
    expect(describeBuildDepCheck(anyNotAllowed)).toBe(
      "perl:any is not in tag demo or debian/trixie for this architecture (perl 5.40.1-6 is amd64, not Multi-Arch)",
    );
    expect(check("tool-i386").unsatisfied[0]).toMatchObject({ kind: "architecture" });
    expect(check("tool-i386:i386").satisfiable).toBe(true);
    expect(check("foreign-tool").satisfiable).toBe(true); // Multi-Arch: foreign satisfies from another architecture
  });

  it("drops relations the architecture list or the build profiles exclude", () => {
    expect(check("nosuch [i386], make [amd64], other [!amd64]").satisfiable).toBe(true);
    expect(say("nosuch [linux-any]")).toBe("nosuch is not in tag demo or debian/trixie");
    expect(check("nosuch <!nocheck>", { profiles: ["nocheck"] }).satisfiable).toBe(true);
    expect(check("nosuch <!nocheck>").satisfiable).toBe(false);
    expect(check("nosuch <pkg.demo.extra>").satisfiable).toBe(true);
    expect(check("nosuch <pkg.demo.extra>", { profiles: ["pkg.demo.extra"] }).satisfiable).toBe(false);
    expect(check("make <stage1 cross> <!nocheck>").satisfiable).toBe(true);
  });

  it("takes any alternative that works and otherwise says what each would need", () => {
    expect(check("nosuch | make").satisfiable).toBe(true);
    const r = check("nosuch | libfoo-dev (>= 2)");
    expect(r.unsatisfied[0]).toMatchObject({
      relation: "nosuch | libfoo-dev (>= 2)",
      alternatives: [{ kind: "missing" }, { kind: "version" }],
    });
    expect(describeBuildDepCheck(r)).toBe(
      "none of nosuch | libfoo-dev (>= 2): nosuch is not in tag demo or debian/trixie; " +
        "libfoo-dev (>= 2) is not in tag demo or debian/trixie (debian/trixie has libfoo-dev 0.9-1)",
    );
  });

  it("follows dependencies transitively and names the chain to what fails", () => {
    const r = check("make, needs-missing");
    expect(r.unsatisfied).toHaveLength(1);
    expect(r.unsatisfied[0]).toMatchObject({
      relation: "needs-missing",
      kind: "dependency",
      chain: [{ package: { name: "needs-missing" }, relation: "needs-missing" }],
      cause: { relation: "libgone1 (>= 2)", problems: [{ kind: "missing" }] },
    });
    expect(describeBuildDepCheck(r)).toBe(
      "needs-missing cannot be installed (needs-missing 1.0 → libgone1 (>= 2)): libgone1 (>= 2) is not in tag demo or debian/trixie",
    );
    // direct only: the relation itself is there
    expect(check("make, needs-missing", { transitive: false })).toMatchObject({ satisfiable: true, checked: "direct" });
  });

  it("backtracks to another alternative when the first cannot be installed", () => {
    expect(check("picky").satisfiable).toBe(true);
    expect(check("needs-missing | alt-good").installSet!.map((p) => p.name)).toContain("alt-good");
  });

  it("honours Build-Conflicts, directly and through what the build-dependencies pull in", () => {
    const direct = check("perl", {}, { "Build-Conflicts": "perl" });
    expect(direct.unsatisfied[0]).toMatchObject({
      kind: "conflict",
      cause: { conflicts: [{ package: { name: "perl" }, with: "Build-Conflicts" }] },
    });
    expect(describeBuildDepCheck(direct)).toBe("perl cannot be installed: perl 5.40.1-6 is in the Build-Conflicts");
    expect(check("perl", {}, { "Build-Conflicts": "perl (<< 5)" }).satisfiable).toBe(true);
    expect(check("perl", {}, { "Build-Conflicts": "perl [i386]" }).satisfiable).toBe(true);
    const deep = check("pulls-gcc", {}, { "Build-Conflicts": "gcc" });
    expect(deep.unsatisfied[0]).toMatchObject({ relation: "pulls-gcc", kind: "dependency" });
    expect(describeBuildDepCheck(deep)).toBe(
      "pulls-gcc cannot be installed (pulls-gcc 1.0 → gcc): gcc: gcc 4:14.2.0-1 is in the Build-Conflicts",
    );
    // an unversioned Build-Conflicts on a virtual package excludes its providers
    expect(check("awk", {}, { "Build-Conflicts": "awk" }).satisfiable).toBe(false);
  });

  it("finds packages that cannot be installed together (Conflicts, Breaks, one version per name)", () => {
    const conflicts = check("pulls-gcc, hates-gcc");
    expect(conflicts).toMatchObject({ satisfiable: false, unsatisfied: [{ combination: true }] });
    expect(describeBuildDepCheck(conflicts)).toMatch(/cannot be installed together with the other build-dependencies/);
    expect(check("breaks-perl, perl").satisfiable).toBe(false);
    const versions = check("libfoo-dev, old-libfoo-user");
    expect(versions.satisfiable).toBe(false);
    expect(describeBuildDepCheck(versions)).toContain("libfoo1 (<< 0.5)");
  });

  it("includes Essential packages (as a chroot has them) unless told not to", () => {
    const r = check("anti-base");
    expect(r.unsatisfied[0]).toMatchObject({ kind: "conflict" });
    expect(describeBuildDepCheck(r)).toBe("anti-base cannot be installed: anti-base 1.0 conflicts with base-files 13.8");
    expect(check("anti-base", { essential: false }).satisfiable).toBe(true);
    const essentialConflict = check("make", {}, { "Build-Conflicts": "base-files" });
    expect(essentialConflict.unsatisfied[0]).toMatchObject({ field: "Essential" });
    expect(describeBuildDepCheck(essentialConflict)).toBe(
      "the Essential package base-files cannot be installed: base-files 13.8 is in the Build-Conflicts",
    );
  });

  it("adds the builder's own dependencies (build-essential) when given", () => {
    const r = check("make", { extraDependencies: "build-essential" });
    expect(r.installSet!.map((p) => p.name)).toEqual(["base-files", "build-essential", "gcc", "libc6", "make"]);
    const missing = checkBuildDependencies(source({ "Build-Depends": "make" }), index(), {
      arch: "amd64",
      extraDependencies: "build-essential (>= 13)",
    });
    expect(describeBuildDepCheck(missing)).toBe(
      "the builder's build-essential (>= 13) is not in tag demo or debian/trixie (debian/trixie has build-essential 12.12)",
    );
  });

  it("reads Build-Depends-Arch and -Indep (and their conflicts) for the parts built", () => {
    const fields = { "Build-Depends-Indep": "nosuch-doc", "Build-Depends-Arch": "make", "Build-Conflicts-Arch": "make" };
    expect(check("perl", { parts: "indep" }, fields).unsatisfied.map((u) => u.field)).toEqual(["Build-Depends-Indep"]);
    expect(check("perl", { parts: "arch" }, fields).unsatisfied.map((u) => u.field)).toEqual(["Build-Depends-Arch"]);
    expect(check("perl", { parts: "both" }, fields).unsatisfied).toHaveLength(2);
  });

  it("answers undecided rather than guess when the search limit is reached", () => {
    const r = check("make, gcc, perl", { maxSteps: 2 });
    expect(r).toMatchObject({ status: "undecided", satisfiable: false, unsatisfied: [{ kind: "undecided" }] });
  });

  it("rejects a malformed Build-Depends with the coded relation error, and a cross build", () => {
    expect(() => check("make (>= )")).toThrow(expect.objectContaining({ code: "RELATION_SYNTAX" }));
    expect(() => check("make", { arch: "arm64" })).toThrow(expect.objectContaining({ code: "ARCHITECTURE_INVALID" }));
  });

  it("makes a package with a malformed Depends in an index unusable, not the whole check", () => {
    const idx = index();
    idx.addIndex("broken repo", parseDeb822("Package: weird\nVersion: 1\nArchitecture: amd64\nDepends: foo (>= )\n"));
    const checker = new InstallabilityChecker(idx);
    expect(checkBuildDependencies(source({ "Build-Depends": "make" }), checker, { arch: "amd64" }).satisfiable).toBe(true);
    const r = checkBuildDependencies(source({ "Build-Depends": "weird" }), checker, { arch: "amd64" });
    expect(describeBuildDepCheck(r)).toContain("weird cannot be installed (weird 1 → weird's Depends (malformed))");
  });

  it("keeps one checker's caches across checks and refreshes them when the index grows", () => {
    const idx = index();
    const checker = new InstallabilityChecker(idx);
    const src = source({ "Build-Depends": "needs-missing" });
    expect(checkBuildDependencies(src, checker, { arch: "amd64" }).satisfiable).toBe(false);
    idx.addIndex("tag demo", parseDeb822("Package: libgone1\nVersion: 2.1\nArchitecture: amd64\n"));
    expect(checkBuildDependencies(src, checker, { arch: "amd64" }).satisfiable).toBe(true);
  });
});

describe("InstallabilityChecker", () => {
  it("explores every combination before answering no", () => {
    // x needs (a | b) and (c | d); a conflicts with c and d, so only b with c or d works
    const idx = BinaryPackageIndex.fromIndexes("amd64", [
      {
        name: "test",
        paragraphs: parseDeb822(
          [
            "Package: x\nVersion: 1\nArchitecture: amd64\nDepends: a | b, c | d",
            "Package: a\nVersion: 1\nArchitecture: amd64\nConflicts: c, d",
            "Package: b\nVersion: 1\nArchitecture: amd64",
            "Package: c\nVersion: 1\nArchitecture: amd64\nDepends: e (>= 2)",
            "Package: d\nVersion: 1\nArchitecture: amd64",
            "Package: e\nVersion: 1\nArchitecture: amd64",
          ].join("\n\n"),
        ),
      },
    ]);
    const checker = new InstallabilityChecker(idx);
    const result = checker.check([checker.clause(parseRelations("x")[0]!, "amd64")]);
    expect(result.status).toBe("installable");
    expect(result.status === "installable" && result.selection.map((p) => p.name).sort()).toEqual(["b", "d", "x"]);
    const none = checker.check([checker.clause(parseRelations("x")[0]!, "amd64"), checker.clause(parseRelations("a")[0]!, "amd64")]);
    expect(none.status).toBe("not-installable");
  });
});
