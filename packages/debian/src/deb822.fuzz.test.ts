import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fuzzSeed, fuzzSync, Mutator, refused } from "../../../test/fuzz.js";
import { parseDeb822Sources, parseOneLineSources } from "./apt-sources.js";
import { parseDeb822 } from "./deb822.js";
import { parseRelease } from "./release-file.js";
import { parseSignedMessage, stripSignature } from "./signed-message.js";

/**
 * Parsers of outside input get a few thousand mutations of real fixtures each (test/fuzz.ts: byte flips,
 * truncation, separators, huge numbers, deep nesting, long lines) and must answer every one with a
 * result or a CodedError. Seeded: FUZZ_SEED=n and FUZZ_ROUNDS=n explore further.
 */
const fixtures = new URL("./__fixtures__/", import.meta.url).pathname;
const bytes = (name: string) => readFileSync(join(fixtures, name));
const mutator = new Mutator(fuzzSeed);

describe(`deb822, OpenPGP cleartext, Release and sources parsers on mutated fixtures (seed ${fuzzSeed})`, () => {
  it("deb822 indexes and control files", () => {
    const indexes = ["Packages.excerpt", "Sources.excerpt", "bookworm-updates.InRelease"].map(bytes);
    const outcome = fuzzSync(mutator, "deb822", indexes, 2000, (_, t) =>
      parseDeb822(stripSignature(t, "index"), { source: "index", maxLineLength: 1 << 20 }),
    );
    const comments = fuzzSync(mutator, "control with comments", [bytes("control-with-comments")], 1000, (_, t) =>
      parseDeb822(t, { comments: true }),
    );
    expect(refused(outcome) + refused(comments)).toBeGreaterThan(0); // the mutations do reach the error paths
    expect(outcome.ok).toBeGreaterThan(0); // and not only those
  });

  it("the OpenPGP cleartext wrapper", () => {
    const outcome = fuzzSync(mutator, "signed message", [bytes("hello_2.10-5.dsc"), bytes("bookworm-updates.InRelease")], 2000, (_, t) =>
      parseSignedMessage(t, "input"),
    );
    expect(refused(outcome)).toBeGreaterThan(0);
  });

  it("Release and InRelease files", () => {
    const releases = [bytes("bookworm-updates.InRelease"), bytes("apt-repository/repository/dists/fixture/Release")];
    const outcome = fuzzSync(mutator, "Release", releases, 2000, (_, t) => parseRelease(stripSignature(t, "InRelease"), "InRelease"));
    expect(refused(outcome)).toBeGreaterThan(0);
    expect(outcome.ok).toBeGreaterThan(0);
  });

  it("APT sources, one-line and deb822", () => {
    const oneLine = Buffer.from(
      "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://127.0.0.1/debian trixie main contrib\n# c\ndeb-src http://127.0.0.1/debian trixie main\n",
    );
    const deb822 = Buffer.from(
      "Types: deb deb-src\nURIs: http://127.0.0.1/debian\nSuites: trixie trixie-updates\nComponents: main\nSigned-By: /usr/share/keyrings/k.gpg\n",
    );
    const outcomes = [
      fuzzSync(mutator, "sources.list", [oneLine], 1000, (_, t) => parseOneLineSources(t)),
      fuzzSync(mutator, "deb822 sources", [deb822], 1000, (_, t) => parseDeb822Sources(t)),
    ];
    for (const outcome of outcomes) expect(refused(outcome)).toBeGreaterThan(0);
  });
});
