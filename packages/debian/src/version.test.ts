import { isCodedError } from "@debian-bootc/core";
import { describe, expect, it } from "vitest";
import { loadVersionPairs, ourVerdict } from "./__fixtures__/version-pairs.js";
import {
  compareParsedVersions,
  compareVersions,
  formatVersion,
  isValidVersion,
  parseVersion,
  sortVersions,
  Version,
  versionProblem,
  versionSatisfies,
} from "./version.js";

const pairs = loadVersionPairs();

describe("compareVersions against dpkg (fixture)", () => {
  it("has a real fixture: at least 60,000 pairs covering every verdict", () => {
    expect(pairs.length).toBeGreaterThanOrEqual(60_000);
    const verdicts = new Set(pairs.map((p) => p.expected));
    expect([...verdicts].sort()).toEqual(["-1", "0", "1", "E"]);
  });

  it(`agrees with dpkg --compare-versions on all ${pairs.length} pairs`, () => {
    const disagreements: string[] = [];
    for (const { a, b, expected } of pairs) {
      const got = ourVerdict(a, b);
      if (got !== expected) disagreements.push(`${a} vs ${b}: dpkg ${expected}, ours ${got}`);
    }
    console.info(`version differential: ${pairs.length} pairs, ${disagreements.length} disagreements`);
    expect(disagreements.slice(0, 20)).toEqual([]);
    expect(disagreements.length).toBe(0);
  });

  it("is antisymmetric and agrees with the parsed comparison on every valid pair", () => {
    let checked = 0;
    for (const { a, b, expected } of pairs) {
      if (expected === "E") continue;
      expect(compareVersions(b, a)).toBe(expected === "0" ? 0 : -Number(expected));
      expect(compareParsedVersions(parseVersion(a, { lenient: true }), parseVersion(b, { lenient: true }))).toBe(Number(expected));
      checked++;
    }
    expect(checked).toBeGreaterThan(60_000);
  });
});

describe("compareVersions", () => {
  const lt = (a: string, b: string) => {
    expect(compareVersions(a, b)).toBe(-1);
    expect(compareVersions(b, a)).toBe(1);
  };
  const eq = (a: string, b: string) => expect(compareVersions(a, b)).toBe(0);

  it("sorts tilde before everything, even the end", () => {
    lt("1.0~rc1", "1.0");
    lt("1.0~~", "1.0~");
    lt("1.0~~a", "1.0~");
    lt("1.0~", "1.0");
    lt("1.0-1~bpo12+1", "1.0-1");
  });

  it("sorts the end before letters and letters before other characters", () => {
    lt("1.0", "1.0a");
    lt("1.0a", "1.0+");
    lt("1.0Z", "1.0a");
    lt("1.0z", "1.0.");
    lt("1.0+", "1.0.");
  });

  it("compares digit runs numerically, without overflow", () => {
    lt("1.9", "1.10");
    eq("1.01", "1.1");
    eq("1.000", "1.0");
    lt("1.99999999999999999999999999", "1.100000000000000000000000000");
    lt("99999999999999999999998", "99999999999999999999999");
  });

  it("compares epochs first, and 0: is no epoch", () => {
    lt("9.9", "1:0");
    eq("0:1.0", "1.0");
    eq("00:1.0", "1.0");
    lt("9:1", "10:1");
    lt("1:9", "2147483647:1");
  });

  it("splits the revision at the last hyphen; -0 equals no revision", () => {
    eq("1.0-0", "1.0");
    lt("1.0-1", "1.0-1-1");
    lt("1.0-2", "1.0-1-1"); // upstream 1.0 < upstream 1.0-1
    lt("1.0+dfsg-1", "1.0+dfsg-1+b1");
    lt("1.0-1", "1.0+dfsg-1");
    lt("1.0-1", "1.0-1+b1");
    lt("1.0-1+b1", "1.0-1.1");
  });

  it("accepts what dpkg only warns about, and trims blanks as dpkg does", () => {
    lt("1", "a1"); // a letter where the other has a digit: the letter sorts later
    lt("~1", "1");
    lt("1a", "1_0");
    eq(" 1.0", "1.0 ");
    lt("1:2:3", "1:2:4");
  });

  it("compares non-ASCII characters as dpkg does (UTF-8 bytes, signed char): after letters, before punctuation", () => {
    lt("1.0z", "1.0é");
    lt("1.0é", "1.0+");
    lt("1.0~é", "1.0");
  });

  it("throws VERSION_INVALID for what dpkg refuses, saying why", () => {
    for (const [bad, why] of [
      ["", "empty"],
      ["1.0-", "revision number is empty"],
      [":1.0", "epoch in version is empty"],
      ["a:1", "epoch in version is not number"],
      ["1:", "nothing after colon"],
      ["2147483648:1", "too big"],
      ["1 0", "embedded spaces"],
      ["1:-1", "upstream version is empty"],
      ["-1:1", "negative"],
    ] as const) {
      let error: unknown;
      try {
        compareVersions(bad, "1");
      } catch (e) {
        error = e;
      }
      expect(isCodedError(error, "VERSION_INVALID"), bad).toBe(true);
      expect((error as Error).message).toContain(why);
    }
  });
});

describe("parseVersion", () => {
  it("splits epoch, upstream and revision and keeps the text", () => {
    const v = parseVersion("1:2.30-1-3");
    expect([v.epoch, v.upstream, v.revision]).toEqual([1, "2.30-1", "3"]);
    expect(v.toString()).toBe("1:2.30-1-3");
    expect(JSON.stringify({ v })).toBe('{"v":"1:2.30-1-3"}');
    const w = parseVersion("0:1.0");
    expect([w.epoch, w.upstream, w.revision, String(w)]).toEqual([0, "1.0", "", "0:1.0"]);
  });

  it("is strict by default: Policy 5.6.12 and what dpkg's field parser refuses", () => {
    expect(versionProblem("a1")).toBe("version number does not start with digit");
    expect(versionProblem("1_0")).toMatch(/invalid character '_' in version number/);
    expect(versionProblem("1.0-1_1")).toMatch(/invalid character '_' in revision number/);
    expect(versionProblem("1:1.0-1:1")).toMatch(/invalid character ':' in revision/);
    expect(versionProblem("1.0-1:1")).toBe("epoch in version is not number"); // the first colon ends the epoch
    expect(versionProblem("1:2:3")).toMatch(/':' in upstream_version/);
    expect(versionProblem(" 1.0")).toMatch(/whitespace/);
    expect(versionProblem("+1:1.0")).toMatch(/epoch/);
    expect(versionProblem("1.0~rc1+dfsg-1~bpo12+1")).toBeUndefined();
    expect(versionProblem("2:1.0A.b-1ubuntu0.1")).toBeUndefined();
  });

  it("is lenient on request: what dpkg --compare-versions accepts", () => {
    for (const v of ["a1", "1_0", "1:2:3", " 1.0 ", "+1:1.0", "1.0-1_1"]) expect(isValidVersion(v, { lenient: true }), v).toBe(true);
    expect(parseVersion(" 1.0-1 ", { lenient: true }).toString()).toBe("1.0-1");
    expect(parseVersion("+2:1", { lenient: true }).epoch).toBe(2);
  });

  it("names the rule and the place in its error", () => {
    expect(() => parseVersion("1.0-", { what: "Version field of hello" })).toThrow(
      /Version field of hello: invalid version '1.0-': revision number is empty/,
    );
  });
});

describe("helpers", () => {
  it("versionSatisfies handles every operator, the obsolete ones as <= and >=", () => {
    expect(versionSatisfies("1.0-1", "<<", "1.0-2")).toBe(true);
    expect(versionSatisfies("1.0-2", "<<", "1.0-2")).toBe(false);
    expect(versionSatisfies("1.0-2", "<=", "1.0-2")).toBe(true);
    expect(versionSatisfies("1.0-2", "<", "1.0-2")).toBe(true);
    expect(versionSatisfies("0:1.0", "=", "1.0")).toBe(true);
    expect(versionSatisfies("1.0", ">=", "1.0~rc1")).toBe(true);
    expect(versionSatisfies("1.0", ">", "1.0")).toBe(true);
    expect(versionSatisfies("1.0", ">>", "1.0")).toBe(false);
    expect(versionSatisfies(parseVersion("2"), ">>", "1:1")).toBe(false);
    expect(() => versionSatisfies("1", "!=" as never, "1")).toThrow(/unknown version relation/);
  });

  it("Version methods and formatVersion", () => {
    const v = new Version(1, "2.0", "3");
    expect(v.toString()).toBe("1:2.0-3");
    expect(v.compare("1:2.0-3")).toBe(0);
    expect(v.satisfies(">>", "2.0-3")).toBe(true);
    expect(formatVersion({ epoch: 0, upstream: "1.0", revision: "" })).toBe("1.0");
  });

  it("sortVersions sorts with dpkg semantics", () => {
    expect(sortVersions(["1.0", "1.0~rc1", "1:0.1", "1.0-1", "1.0+b1", "1.0a"])).toEqual([
      "1.0~rc1",
      "1.0",
      "1.0-1",
      "1.0a",
      "1.0+b1",
      "1:0.1",
    ]);
  });
});
