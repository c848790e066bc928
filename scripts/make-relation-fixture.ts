/**
 * Builds packages/debian/src/__fixtures__/relations-trixie.txt: real relation fields from trixie's
 * Sources and Packages indexes (as cached by scripts/make-version-pairs.ts in .cache/debian-index),
 * chosen to cover every syntax feature: alternatives, version relations, architecture lists with
 * wildcards, build profiles, :any/:native qualifiers, versioned Provides. One `Field: value` per line.
 *
 *   npx tsx scripts/make-relation-fixture.ts
 */
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "../packages/core/src/run.js";
import { seededRandom } from "./version-pairs-lib.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cache = join(root, ".cache/debian-index");
const random = seededRandom(7);

async function fields(file: string, names: RegExp): Promise<Array<[string, string]>> {
  const { stdout } = await run("xz", ["-dc", join(cache, file)]);
  const out: Array<[string, string]> = [];
  // single-line view of each field (continuation lines joined with a space, as they are whitespace)
  for (const m of stdout.matchAll(/^([A-Za-z-]+):[ \t]*(.*(?:\n[ \t].*)*)/gm)) {
    if (names.test(m[1]!)) out.push([m[1]!, m[2]!.replace(/\n[ \t]+/g, " ").trim()]);
  }
  return out;
}

const features: Array<[string, RegExp, number]> = [
  ["profiles", /</, 60],
  ["negated arch", /\[!/, 40],
  ["arch wildcard", /\[[^\]]*any/, 40],
  ["arch list", /\[[a-z]/, 40],
  [":native", /:native/, 30],
  [":any", /:any/, 40],
  ["alternatives", /\|/, 40],
  ["<<", /<</, 20],
  ["= version", /\(= /, 20],
  ["epoch", /\(\S+ \d+:/, 20],
  ["tilde", /~/, 20],
];

function pick(list: Array<[string, string]>, n: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const copy = [...list];
  while (out.length < n && copy.length > 0) out.push(copy.splice(Math.floor(random() * copy.length), 1)[0]!);
  return out;
}

const sources = await fields("trixie-Sources.xz", /^Build-(Depends|Conflicts)(-Arch|-Indep)?$/);
const packages = await fields("trixie-Packages.xz", /^(Depends|Pre-Depends|Recommends|Provides|Breaks|Conflicts)$/);
const chosen = new Map<string, [string, string]>();
for (const [, re, n] of features) {
  for (const f of pick(
    sources.filter(([, v]) => re.test(v)),
    n,
  ))
    chosen.set(f.join(": "), f);
  for (const f of pick(
    packages.filter(([, v]) => re.test(v)),
    Math.ceil(n / 2),
  ))
    chosen.set(f.join(": "), f);
}
for (const f of pick(sources, 60)) chosen.set(f.join(": "), f);
for (const f of pick(
  packages.filter(([k, v]) => k === "Provides" && v.includes("(=")),
  30,
))
  chosen.set(f.join(": "), f);
const lines = [...chosen.keys()];
await writeFile(
  join(root, "packages/debian/src/__fixtures__/relations-trixie.txt"),
  `# real relation fields from trixie main (Sources, amd64 Packages); scripts/make-relation-fixture.ts\n${lines.join("\n")}\n`,
);
process.stderr.write(`${lines.length} fields (of ${sources.length} source and ${packages.length} binary relation fields)\n`);
