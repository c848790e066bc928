import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fuzzAsync, fuzzSeed, fuzzSync, Mutator, refused } from "../../../test/fuzz.js";
import { loadDefinition, parseDefinition } from "./definition.js";

/**
 * The compose definition loader gets a few thousand mutations of the shipped example definitions
 * (test/fuzz.ts: byte flips, truncation, separators, huge numbers, deep nesting, long lines) and must
 * answer each with a definition or a coded error (CONFIG_SYNTAX, CONFIG_INVALID): never a TypeError,
 * RangeError or hang. Seeded: FUZZ_SEED=n and FUZZ_ROUNDS=n explore further.
 */
const examples = new URL("../../../examples/", import.meta.url).pathname;
const definitions = ["minimal.yaml", "debian-bootc.yaml"].map((name) => readFileSync(join(examples, name)));
const mutator = new Mutator(fuzzSeed);
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "definition-fuzz-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe(`compose definition loader on mutated examples (seed ${fuzzSeed})`, () => {
  it("parses or refuses with a coded error", () => {
    const outcome = fuzzSync(mutator, "definition", definitions, 1000, (_, text) => parseDefinition(text, "def.yaml"));
    expect(outcome.ok).toBeGreaterThan(0);
    expect([...outcome.coded.keys()].sort()).toEqual(["CONFIG_INVALID", "CONFIG_SYNTAX"]);
  });

  it("loads from a file the same way", async () => {
    const path = join(dir, "def.yaml");
    const outcome = await fuzzAsync(mutator, "definition file", definitions, 50, async (input) => {
      await writeFile(path, input);
      return loadDefinition(path);
    });
    expect(refused(outcome)).toBeGreaterThan(0);
  });
});
