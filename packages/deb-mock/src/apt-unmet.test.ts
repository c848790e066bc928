import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { describeAptUnmet, parseAptUnmet } from "./apt-unmet.js";
import { isUnsatisfiableAptOutput } from "./source-input.js";

// apt-get satisfy output captured from trixie's apt (3.0) on a deb-mock base, with Debug::pkgProblemResolver=yes as deb-mock runs it
const fixture = (name: string) => readFileSync(new URL(`./__fixtures__/apt-unmet/${name}.txt`, import.meta.url), "utf8");

describe("parseAptUnmet", () => {
  it("reads a missing build-dependency", () => {
    expect(parseAptUnmet(fixture("missing"))).toEqual([
      { package: "satisfy:command-line", type: "Depends", relation: "libbarsdemo-dev (>= 1.0)", reasons: ["it is not installable"] },
    ]);
  });

  it("reads several relations of one package, with apt's reason or none", () => {
    expect(parseAptUnmet(fixture("version"))).toEqual([
      { package: "satisfy:command-line", type: "Depends", relation: "libc6-dev (>= 99)", reasons: ["2.41-12+deb13u5 is to be installed"] },
      { package: "satisfy:command-line", type: "Depends", relation: "make (< 1)", reasons: [""] },
    ]);
  });

  it("joins alternatives apt spreads over lines", () => {
    expect(parseAptUnmet(fixture("alternatives"))).toEqual([
      {
        package: "satisfy:command-line",
        type: "Depends",
        relation: "nosuch | libc6-dev (>= 99)",
        reasons: ["it is not installable", "2.41-12+deb13u5 is to be installed"],
      },
    ]);
  });

  it("reads the output of apt's 3.0 solver the same way", () => {
    expect(parseAptUnmet(fixture("solver3-version"))).toEqual([
      { package: "satisfy:command-line", type: "Depends", relation: "libc6-dev (>= 99)", reasons: ["2.41-12+deb13u5 is to be installed"] },
      { package: "satisfy:command-line", type: "Depends", relation: "nosuch | make (< 1)", reasons: ["it is not installable", ""] },
    ]);
  });

  it("reads relations of other packages (a dependency chain) and qualifiers", () => {
    const chain = parseAptUnmet(fixture("dependency-chain"));
    expect(chain.map((u) => u.package)).toEqual(["libpython3-stdlib", "libpython3.13", "libpython3.13-dev", "python3.13"]);
    expect(chain[0]).toEqual({
      package: "libpython3-stdlib",
      type: "Depends",
      relation: "libpython3.13-stdlib (>= 3.13.5-1~)",
      reasons: ["it is not installable"],
    });
    expect(parseAptUnmet(fixture("arch"))).toEqual([
      { package: "satisfy:command-line", type: "Depends", relation: "libc6:any", reasons: ["it is not installable"] },
    ]);
    expect(parseAptUnmet(fixture("conflicts"))).toEqual([
      { package: "satisfy:command-line", type: "Depends", relation: "make", reasons: [""] },
    ]);
    expect(parseAptUnmet(fixture("virtual"))).toEqual([
      { package: "satisfy:command-line", type: "Depends", relation: "mail-transport-agent (>= 1)", reasons: [""] },
    ]);
  });

  it("falls back to the problem resolver's Broken lines when the summary is missing", () => {
    const debugOnly = fixture("version").split("Some packages could not be installed")[0]!;
    expect(parseAptUnmet(debugOnly)).toEqual([
      { package: "satisfy:command-line", type: "Depends", relation: "libc6-dev (>= 99)", reasons: [""] },
      { package: "satisfy:command-line", type: "Depends", relation: "make (< 1)", reasons: [""] },
    ]);
  });

  it("finds nothing in other failures, and every fixture is one deb-mock calls unsatisfiable", () => {
    expect(parseAptUnmet("E: Failed to fetch http://127.0.0.1/x  Connection refused\n")).toEqual([]);
    for (const name of ["missing", "version", "alternatives", "solver3-version", "dependency-chain", "arch", "conflicts", "virtual"]) {
      expect(isUnsatisfiableAptOutput(fixture(name))).toBe(true);
    }
  });

  it("says each in plain words", () => {
    expect(parseAptUnmet(fixture("alternatives")).map(describeAptUnmet)).toEqual([
      "nosuch | libc6-dev (>= 99) (it is not installable; 2.41-12+deb13u5 is to be installed)",
    ]);
    expect(describeAptUnmet(parseAptUnmet(fixture("dependency-chain"))[3]!)).toBe(
      "python3.13 needs libpython3.13-stdlib (= 3.13.5-2+deb13u5) (it is not installable)",
    );
    expect(describeAptUnmet({ package: "satisfy:command-line", type: "Conflicts", relation: "make", reasons: [""] })).toBe(
      "conflicts with make",
    );
  });
});
