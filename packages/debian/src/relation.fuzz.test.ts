import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fuzzSeed, fuzzSync, Mutator, refused } from "../../../test/fuzz.js";
import { parseRelations } from "./relation.js";
import { compareVersions, parseVersion } from "./version.js";

/**
 * Parsers of outside input get a few thousand mutations of real fixtures each (test/fuzz.ts: byte flips,
 * truncation, separators, huge numbers, deep nesting, long lines) and must answer every one with a
 * result or a CodedError. Seeded: FUZZ_SEED=n and FUZZ_ROUNDS=n explore further.
 */
const fixtures = new URL("./__fixtures__/", import.meta.url).pathname;
const mutator = new Mutator(fuzzSeed);

describe(`relation and version parsers on mutated fixtures (seed ${fuzzSeed})`, () => {
  it("relations and versions", () => {
    const lines = readFileSync(join(fixtures, "relations-trixie.txt"), "utf8")
      .split("\n")
      .filter((l) => l.includes(": ") && !l.startsWith("#"))
      .map((l) => Buffer.from(l.slice(l.indexOf(": ") + 2)));
    const relations = fuzzSync(mutator, "relations", lines, 3000, (_, t) => parseRelations(t, { field: "Depends" }));
    const versions = ["1:2.30-1+deb12u1", "2.10-5", "1.0~rc1", "0.0.25", "10.46-1~deb13u3", "1:1.3.dfsg+really1.3.1-1+deb13u1"].map((v) =>
      Buffer.from(v),
    );
    const parsed = fuzzSync(mutator, "versions", versions, 3000, (_, t) => {
      parseVersion(t);
      return compareVersions(t, "1.0-1");
    });
    expect(refused(relations)).toBeGreaterThan(0);
    expect(refused(parsed)).toBeGreaterThan(0);
  });
});
