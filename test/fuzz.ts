// Test support (not shipped): a small seeded mutator for the fuzz tests of every parser of outside input.
import { isCodedError } from "@debian-bootc/core";

/**
 * Fuzz-style robustness: mutations of real fixtures (byte flips, truncation, duplicated and deleted
 * slices, inserted separators, huge numbers, deep nesting, long lines) go to a parser, which must either
 * succeed or throw a CodedError: never another exception type (TypeError, RangeError, ...), never a
 * hang. The seed is fixed so CI is reproducible and every failure names its case; FUZZ_SEED=n explores
 * other inputs and FUZZ_ROUNDS=n multiplies the number of cases.
 */
export const fuzzSeed = Number(process.env.FUZZ_SEED ?? 20240601);
export const fuzzRounds = Math.max(1, Number(process.env.FUZZ_ROUNDS ?? 1));

export type Random = () => number;

/** xorshift32: deterministic for a seed. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

const SEPARATORS = [
  "\n",
  "\n\n",
  " ",
  "\t",
  ":",
  "-",
  ".",
  "\0",
  "\r",
  "\r\n",
  "#",
  "(",
  ")",
  "|",
  "<",
  ">",
  "[",
  "]",
  "{",
  "}",
  ",",
  "~",
  "/",
  "..",
  "../",
  "%",
  "\\",
  '"',
  "'",
  "&",
  "*",
  "!",
  "\u00ff",
  "\u{1f4a5}",
  "-----BEGIN PGP SIGNATURE-----\n",
  "-----BEGIN PGP SIGNED MESSAGE-----\n",
  " -- ",
  "\n .\n",
];

const HUGE_NUMBERS = ["9".repeat(400), "18446744073709551616", "-1", "1e309", "NaN", "0x7fffffff", "-0", "2147483648", "9007199254740993"];

export class Mutator {
  readonly random: Random;

  constructor(seed = fuzzSeed) {
    this.random = seededRandom(seed);
  }

  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }

  /** One random mutation of the input and what was done (for the failure message). */
  mutate(input: Buffer, depth = 0): [Buffer, string] {
    const at = this.int(input.length + 1);
    const roll = this.int(100);
    if (roll < 20) {
      const out = Buffer.from(input);
      const flips = 1 + this.int(8);
      for (let k = 0; k < flips && out.length > 0; k++) out[this.int(out.length)] = this.int(256);
      return [out, `${flips} byte flips`];
    }
    if (roll < 32) return [input.subarray(0, at), `truncated at ${at}`];
    if (roll < 42) {
      const len = this.int(Math.min(4096, input.length - at + 1));
      return [Buffer.concat([input.subarray(0, at + len), input.subarray(at)]), `duplicated ${len} bytes at ${at}`];
    }
    if (roll < 52) {
      const len = this.int(Math.min(4096, input.length - at + 1));
      return [Buffer.concat([input.subarray(0, at), input.subarray(at + len)]), `deleted ${len} bytes at ${at}`];
    }
    if (roll < 72) {
      const s = this.pick(SEPARATORS);
      return [Buffer.concat([input.subarray(0, at), Buffer.from(s), input.subarray(at)]), `inserted ${JSON.stringify(s)} at ${at}`];
    }
    if (roll < 80) {
      // a run of digits becomes a huge (or negative, or not a) number
      const text = input.toString("latin1");
      const runs = [...text.matchAll(/[0-9]+/g)];
      if (runs.length === 0) return this.mutate(input, depth);
      const run = this.pick(runs);
      const n = this.pick(HUGE_NUMBERS);
      const out = Buffer.concat([input.subarray(0, run.index), Buffer.from(n), input.subarray(run.index + run[0].length)]);
      return [out, `number at ${run.index} became ${n.slice(0, 20)}`];
    }
    if (roll < 86) {
      const levels = 100 + this.int(5000);
      const open = this.pick(["[", "{", "(", "- ", "  ", "<", "a: "]);
      const nest = open === "  " || open === "- " || open === "a: " ? `\n${open.repeat(levels)}x\n` : open.repeat(levels);
      return [Buffer.concat([input.subarray(0, at), Buffer.from(nest), input.subarray(at)]), `nested ${open} ${levels} deep at ${at}`];
    }
    if (roll < 88) {
      const len = 100_000 + this.int(200_000);
      return [Buffer.concat([input.subarray(0, at), Buffer.alloc(len, "x"), input.subarray(at)]), `inserted a ${len}-byte line at ${at}`];
    }
    if (depth > 2) return this.mutate(input, depth + 1);
    const [a, what] = this.mutate(input, depth + 1);
    const [b, what2] = this.mutate(a, depth + 1);
    return [b, `${what}, then ${what2}`];
  }
}

export interface FuzzOutcome {
  /** Inputs the parser accepted. */
  ok: number;
  /** Inputs refused with a CodedError, by code. */
  coded: Map<string, number>;
}

function record(outcome: FuzzOutcome, name: string, i: number, what: string, error: unknown): void {
  if (!isCodedError(error)) throw new Error(`${name} (seed ${fuzzSeed}, case ${i}: ${what}) threw ${String(error)}`, { cause: error });
  outcome.coded.set(error.code, (outcome.coded.get(error.code) ?? 0) + 1);
}

/** Run fn on `count` mutations of the inputs (in turn); any non-coded exception fails with a replayable description. */
export function fuzzSync(
  mutator: Mutator,
  name: string,
  inputs: readonly Buffer[],
  count: number,
  fn: (input: Buffer, text: string) => unknown,
): FuzzOutcome {
  const outcome: FuzzOutcome = { ok: 0, coded: new Map() };
  for (let i = 0; i < count * fuzzRounds; i++) {
    const [mutated, what] = mutator.mutate(inputs[i % inputs.length]!);
    try {
      fn(mutated, mutated.toString("utf8"));
      outcome.ok++;
    } catch (error) {
      record(outcome, name, i, what, error);
    }
  }
  return outcome;
}

export async function fuzzAsync(
  mutator: Mutator,
  name: string,
  inputs: readonly Buffer[],
  count: number,
  fn: (input: Buffer, text: string) => Promise<unknown>,
): Promise<FuzzOutcome> {
  const outcome: FuzzOutcome = { ok: 0, coded: new Map() };
  for (let i = 0; i < count * fuzzRounds; i++) {
    const [mutated, what] = mutator.mutate(inputs[i % inputs.length]!);
    try {
      await fn(mutated, mutated.toString("utf8"));
      outcome.ok++;
    } catch (error) {
      record(outcome, name, i, what, error);
    }
  }
  return outcome;
}

/** Total refusals of an outcome. */
export function refused(outcome: FuzzOutcome): number {
  let n = 0;
  for (const count of outcome.coded.values()) n += count;
  return n;
}
