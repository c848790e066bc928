import { describe, expect, it } from "vitest";
import { dpkgVerdicts, pairIsShellSafe, seededRandom, syntheticVersions } from "../../../scripts/version-pairs-lib.js";
import { loadVersionPairs, ourVerdict } from "./__fixtures__/version-pairs.js";

/**
 * Keeps the differential fixture honest: the real dpkg re-judges a random sample of its pairs, and
 * judges fresh pairs nobody has seen (new synthetic strings and mutations of archive versions), which
 * our implementation must also agree on. The seed is printed so a failure can be replayed
 * (VERSION_SEED=... npx vitest run packages/debian/src/version.system.test.ts).
 */
const seed = Number(process.env.VERSION_SEED ?? Date.now() % 2 ** 31);
const random = seededRandom(seed);

const fixture = loadVersionPairs();

/** Small edits of real versions: the places where implementations usually go wrong. */
function mutate(v: string): string {
  const edits = ["~", "~~", "+", ".", "a", "Z", "0", "00", "9", "-1", "+b1", "~rc1", "1:", "99999999999999999999"];
  const e = edits[Math.floor(random() * edits.length)]!;
  const at = Math.floor(random() * (v.length + 1));
  return e === "1:" ? `1:${v}` : v.slice(0, at) + e + v.slice(at);
}

describe("version differential against the real dpkg", () => {
  it("dpkg still agrees with a random sample of the fixture", async () => {
    const sample = Array.from({ length: 4000 }, () => fixture[Math.floor(random() * fixture.length)]!);
    const verdicts = await dpkgVerdicts(sample.map(({ a, b }) => [a, b] as const));
    const wrong: string[] = [];
    sample.forEach(({ a, b, expected }, i) => {
      if (String(verdicts[i]) !== expected) wrong.push(`${a} ${b}: fixture ${expected}, dpkg ${verdicts[i]}`);
    });
    console.info(`seed ${seed}: ${sample.length} fixture pairs re-checked with dpkg, ${wrong.length} stale`);
    expect(wrong).toEqual([]);
  });

  it("compareVersions agrees with dpkg on fresh pairs", async () => {
    const versions = fixture.map(({ a }) => a).concat(fixture.map(({ b }) => b));
    const pickReal = () => versions[Math.floor(random() * versions.length)]!;
    const synthetic = syntheticVersions(random, 1500);
    const pickSynthetic = () => synthetic[Math.floor(random() * synthetic.length)]!;
    const pairs: Array<readonly [string, string]> = [];
    while (pairs.length < 3000) {
      const kind = random();
      let pair: [string, string];
      if (kind < 0.4) {
        const v = pickReal();
        pair = [v, mutate(v)];
      } else if (kind < 0.7) pair = [pickSynthetic(), pickSynthetic()];
      else if (kind < 0.85) pair = [pickReal(), pickSynthetic()];
      else pair = [mutate(pickReal()), mutate(pickReal())];
      if (random() < 0.5) pair.reverse();
      if (pairIsShellSafe(pair[0], pair[1])) pairs.push(pair);
    }
    const verdicts = await dpkgVerdicts(pairs);
    const wrong: string[] = [];
    pairs.forEach(([a, b], i) => {
      const got = ourVerdict(a, b);
      if (got !== String(verdicts[i])) wrong.push(`${a} ${b}: dpkg ${verdicts[i]}, ours ${got}`);
    });
    const verdictKinds = new Set(verdicts.map(String));
    console.info(
      `seed ${seed}: ${pairs.length} fresh pairs, verdicts ${[...verdictKinds].sort().join(" ")}, ${wrong.length} disagreements`,
    );
    expect(verdictKinds.size).toBeGreaterThanOrEqual(3);
    expect(wrong).toEqual([]);
  });
});
