import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fuzzSeed, fuzzSync, Mutator, refused } from "../../../test/fuzz.js";
import { parseChangelogEntry } from "./changelog.js";
import { parseDeb822Single } from "./deb822.js";
import { checkBinaryIdentity } from "./package-fields.js";
import { parseDsc } from "./source-package.js";
import { parseBuildinfo, parseChanges } from "./upload-files.js";

/**
 * Parsers of outside input get a few thousand mutations of real fixtures each (test/fuzz.ts: byte flips,
 * truncation, separators, huge numbers, deep nesting, long lines) and must answer every one with a
 * result or a CodedError. Seeded: FUZZ_SEED=n and FUZZ_ROUNDS=n explore further.
 */
const fixtures = new URL("./__fixtures__/", import.meta.url).pathname;
const bytes = (name: string) => readFileSync(join(fixtures, name));
const mutator = new Mutator(fuzzSeed);

describe(`.dsc, .changes, .buildinfo, changelog and control field parsers on mutated fixtures (seed ${fuzzSeed})`, () => {
  it(".dsc, .changes, .buildinfo and debian/changelog", () => {
    const dscs = [bytes("hello_2.10-5.dsc"), bytes("upload/demo-upload_1.0.dsc"), bytes("apt-repository/source/bootc-demo_1.0.dsc")];
    const outcomes = [
      fuzzSync(mutator, ".dsc", dscs, 2000, (_, t) => parseDsc(t)),
      fuzzSync(mutator, ".changes", [bytes("upload/demo-upload_1.0_amd64.changes")], 2000, (_, t) => parseChanges(t)),
      fuzzSync(mutator, ".buildinfo", [bytes("upload/demo-upload_1.0_amd64.buildinfo")], 2000, (_, t) => parseBuildinfo(t)),
      fuzzSync(mutator, "changelog", [bytes("apt.changelog")], 2000, (_, t) => parseChangelogEntry(t)),
    ];
    for (const outcome of outcomes) expect(refused(outcome)).toBeGreaterThan(0);
  });

  it("control fields of binary packages (Package, Source, Version, Architecture)", () => {
    const controls = readdirSync(join(fixtures, "debs"))
      .filter((n) => n.endsWith(".control"))
      .map((n) => bytes(`debs/${n}`));
    const outcome = fuzzSync(mutator, "control fields", controls, 3000, (_, t) => {
      const control = parseDeb822Single(t, { source: "control" });
      return checkBinaryIdentity({
        package: control.require("Package"),
        version: control.require("Version"),
        architecture: control.require("Architecture"),
        ...(control.has("Source") ? { source: control.require("Source").split(" ")[0]! } : {}),
      });
    });
    expect(refused(outcome)).toBeGreaterThan(0);
    expect(outcome.ok).toBeGreaterThan(0);
  });
});
