/**
 * Shared by scripts/make-version-pairs.ts (fixture generator) and the system test that re-checks the
 * fixture: asks the real `dpkg --compare-versions` for the order of many version pairs, with a small
 * pool of shell loops (one `sh` per chunk; the pairs go through stdin, never through a command line).
 */
import { run } from "../packages/core/src/run.js";

/** -1 / 0 / 1 as dpkg decides, or "E" when dpkg refuses one of the versions (exit status 2). */
export type DpkgVerdict = -1 | 0 | 1 | "E";

// A constant script: the versions are read from stdin, tab-separated, one pair per line.
const LOOP = `
tab=$(printf '\\t')
while IFS="$tab" read -r a b; do
  dpkg --compare-versions "$a" lt "$b" 2>/dev/null
  r=$?
  if [ "$r" -eq 0 ]; then echo -1
  elif [ "$r" -eq 1 ]; then
    if dpkg --compare-versions "$a" eq "$b" 2>/dev/null; then echo 0; else echo 1; fi
  else echo E
  fi
done
`;

export function pairIsShellSafe(a: string, b: string): boolean {
  // tab separates, newline ends a pair; a leading tab would be eaten by read; NUL cannot be an argument;
  // dpkg's option parser takes an argument starting with '-' for an option (so "-0:1" never reaches
  // parseversion), hence such versions cannot be asked about
  return !/[\t\n\r\0]/.test(a + b) && a !== "" && b !== "" && !a.startsWith("-") && !b.startsWith("-");
}

export async function dpkgVerdicts(
  pairs: ReadonlyArray<readonly [string, string]>,
  options: { workers?: number; chunk?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<DpkgVerdict[]> {
  for (const [a, b] of pairs) if (!pairIsShellSafe(a, b)) throw new Error(`pair cannot go through the shell loop: ${a} ${b}`);
  const chunk = options.chunk ?? 2000;
  const chunks: Array<{ start: number; end: number }> = [];
  for (let i = 0; i < pairs.length; i += chunk) chunks.push({ start: i, end: Math.min(pairs.length, i + chunk) });
  const out: DpkgVerdict[] = new Array(pairs.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const { start, end } = chunks[next++]!;
      const input = pairs
        .slice(start, end)
        .map(([a, b]) => `${a}\t${b}\n`)
        .join("");
      const { stdout } = await run("sh", ["-c", LOOP], { input, debianPackage: "dpkg" });
      const lines = stdout.split("\n").filter((l) => l !== "");
      if (lines.length !== end - start) throw new Error(`dpkg loop answered ${lines.length} of ${end - start} pairs`);
      lines.forEach((line, k) => {
        out[start + k] = line === "E" ? "E" : (Number(line) as -1 | 0 | 1);
      });
      done += end - start;
      options.onProgress?.(done, pairs.length);
    }
  };
  await Promise.all(Array.from({ length: options.workers ?? 2 }, worker));
  return out;
}

/** A small seeded PRNG (mulberry32), so generated pairs are reproducible. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Tokens that exercise every branch of verrevcmp (tilde, letters vs. others, digit runs, zeros). */
const TOKENS = ["0", "00", "1", "01", "9", "10", "99999999999999999999", "a", "A", "z", "Z", "~", "~~", "+", ".", "-", ":"];

/**
 * Random version-like strings: most are valid, some only dpkg-lenient, some rejected by dpkg. The
 * system test uses fresh ones on every run; the fixture generator a fixed seed.
 */
export function syntheticVersions(random: () => number, count: number): string[] {
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = "";
    const epoch = random();
    if (epoch < 0.1) s += `${pick(["0", "1", "2", "10", "00"])}:`;
    s += pick(["0", "1", "2", "9", "10"]);
    const n = 1 + Math.floor(random() * 5);
    for (let k = 0; k < n; k++) s += pick(TOKENS);
    out.push(s);
  }
  return out;
}
