/**
 * Builds packages/debian/src/__fixtures__/version-pairs.tsv.gz: version pairs with the order the real
 * `dpkg --compare-versions` gives them, for the differential test of compareVersions.
 *
 *   npx tsx scripts/make-version-pairs.ts [--suite trixie] [--cache DIR]
 *
 * Sources of versions: every Version field and every versioned relation of trixie's
 * main/binary-amd64/Packages and main/source/Sources, downloaded from the mirror in the host's APT
 * sources (never written anywhere), plus hand-written edge cases and seeded synthetic strings.
 * Pairs: neighbours in sorted order, seeded random pairs (far and near), all pairs of the edge cases.
 * Half of the pairs are swapped so every verdict occurs. Needs dpkg and xz; about 2 minutes on 2 cores.
 */
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { run } from "../packages/core/src/run.js";
import { defaultMirror } from "../packages/debian/src/apt-sources.js";
import { compareVersions, isValidVersion } from "../packages/debian/src/version.js";
import { dpkgVerdicts, pairIsShellSafe, seededRandom, syntheticVersions } from "./version-pairs-lib.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const suite = opt("--suite", "trixie");
const cacheDir = opt("--cache", join(root, ".cache/debian-index"));
const output = join(root, "packages/debian/src/__fixtures__/version-pairs.tsv.gz");

/** Hand-written cases: the corners of Policy 5.6.12 and of dpkg's parser. */
export const EDGE_VERSIONS = [
  // tilde sorts before everything, even the end of the string
  "1.0~rc1",
  "1.0~rc1-1",
  "1.0~~",
  "1.0~",
  "1.0",
  "1.0~~a",
  "1.0~a",
  "1.0~b",
  "1.0~1",
  "1~",
  "1~~",
  "1~a",
  // letters sort before non-letters, the end before letters
  "1.0a",
  "1.0A",
  "1.0z",
  "1.0Z",
  "1.0+",
  "1.0.",
  "1.0-",
  "1.0+a",
  "1.0.a",
  "1.0+1",
  "1.0.1",
  "1.0a1",
  "1.0+~",
  // digits numerically: leading zeros, huge runs beyond 64 bits
  "01",
  "1",
  "1.01",
  "1.1",
  "1.001",
  "1.10",
  "1.000",
  "1.0000000000000000000000001",
  "1.99999999999999999999999999",
  "1.100000000000000000000000000",
  "99999999999999999999999",
  "100000000000000000000000",
  // epochs
  "0:1.0",
  "1:0",
  "0:9",
  "1:1.0",
  "2:0.1",
  "00:1.0",
  "2147483647:1",
  "10:1",
  "9:1",
  // revisions: empty, zero, with + . ~, hyphens inside upstream
  "1.0-0",
  "1.0-1",
  "1.0-1~bpo12+1",
  "1.0-1+b1",
  "1.0-1.1",
  "1.0-1ubuntu1",
  "1.0-1+deb12u1",
  "1.0-10",
  "1.0-9",
  "1.0-1-1",
  "1:1.0-1-1",
  "1.0+dfsg-1",
  "1.0+dfsg1-1",
  "1.0~dfsg-1",
  "1.0-0.1",
  "1.0-a",
  "1.0-~",
  // what dpkg only warns about (accepted by --compare-versions)
  "a1",
  "A",
  "~1",
  "1_0",
  "1.0-1_1",
  "1:2:3",
  "1:2:3-4",
  "1@0",
  "1.0é",
  "1.0ä",
  "1.0~é",
  "1.0-é",
  "1 ",
  " 1",
  "+1:1",
  "-0:1",
  "1.0-1:1",
  // what dpkg refuses
  "1.0--",
  ":1.0",
  "1:",
  "a:1",
  "-1:1",
  "2147483648:1",
  "99999999999999999999:1",
  "1 0",
  "-1",
  "1:-1",
  "1.0-1 1",
];

async function download(uri: string, dest: string): Promise<void> {
  const response = await fetch(uri);
  if (!response.ok) throw new Error(`${uri}: HTTP ${response.status}`);
  await writeFile(dest, Buffer.from(await response.arrayBuffer()));
}

async function indexText(name: string, path: string): Promise<string> {
  const file = join(cacheDir, `${suite}-${name.replace(/\//g, "_")}`);
  try {
    await stat(file);
  } catch {
    await mkdir(cacheDir, { recursive: true });
    const mirror = await defaultMirror();
    process.stderr.write(`downloading ${suite}/${path}\n`);
    await download(`${mirror}/dists/${suite}/${path}`, file);
  }
  const { stdout } = await run("xz", ["-dc", file], { debianPackage: "xz-utils" });
  return stdout;
}

function collectVersions(text: string, into: Set<string>): void {
  for (const m of text.matchAll(/^Version:[ \t]*(\S+)[ \t]*$/gm)) into.add(m[1]!);
  for (const m of text.matchAll(/\((?:<<|<=|=|>=|>>|<|>)\s*([^)\s]+)\s*\)/g)) into.add(m[1]!);
}

async function main(): Promise<void> {
  const real = new Set<string>();
  collectVersions(await indexText("Packages.xz", "main/binary-amd64/Packages.xz"), real);
  collectVersions(await indexText("Sources.xz", "main/source/Sources.xz"), real);
  const realSorted = [...real].filter((v) => isValidVersion(v, { lenient: true })).sort(compareVersions);
  process.stderr.write(`${real.size} distinct versions from ${suite}\n`);

  const random = seededRandom(20251126);
  const pairs: Array<[string, string]> = [];
  const seen = new Set<string>();
  const add = (a: string, b: string, swap = random() < 0.5) => {
    if (!pairIsShellSafe(a, b)) return;
    const [x, y] = swap ? [b, a] : [a, b];
    const key = `${x}\t${y}`;
    if (seen.has(key)) return;
    seen.add(key);
    pairs.push([x, y]);
  };
  const n = realSorted.length;
  for (let i = 0; i + 1 < n; i++) add(realSorted[i]!, realSorted[i + 1]!);
  for (let k = 0; k < 12000; k++) add(realSorted[Math.floor(random() * n)]!, realSorted[Math.floor(random() * n)]!);
  for (let k = 0; k < 10000; k++) {
    const i = Math.floor(random() * n);
    add(realSorted[i]!, realSorted[Math.min(n - 1, i + 2 + Math.floor(random() * 40))]!);
  }
  for (const a of EDGE_VERSIONS) for (const b of EDGE_VERSIONS) add(a, b, false);
  const synthetic = syntheticVersions(random, 3000);
  const synthSorted = synthetic.filter((v) => isValidVersion(v, { lenient: true })).sort(compareVersions);
  for (let i = 0; i + 1 < synthSorted.length; i++) add(synthSorted[i]!, synthSorted[i + 1]!);
  for (let k = 0; k < 3000; k++)
    add(synthetic[Math.floor(random() * synthetic.length)]!, synthetic[Math.floor(random() * synthetic.length)]!);

  process.stderr.write(`${pairs.length} pairs; asking dpkg\n`);
  const started = Date.now();
  let lastReport = 0;
  const verdicts = await dpkgVerdicts(pairs, {
    onProgress: (done, total) => {
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        process.stderr.write(`  ${done}/${total}\n`);
      }
    },
  });
  process.stderr.write(`dpkg answered in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

  let disagreements = 0;
  const lines = [
    `# a\tb\texpected: dpkg --compare-versions verdict (-1 a<b, 0 equal, 1 a>b, E dpkg refuses a version); dpkg ${await dpkgVersion()}; generated by scripts/make-version-pairs.ts from ${suite} main (amd64 Packages + Sources)`,
  ];
  pairs.forEach(([a, b], i) => {
    const expected = verdicts[i]!;
    let ours: string;
    try {
      ours = String(compareVersions(a, b));
    } catch {
      ours = "E";
    }
    if (ours !== String(expected)) {
      disagreements++;
      if (disagreements <= 20) process.stderr.write(`disagreement: ${a} ${b}: dpkg ${expected}, ours ${ours}\n`);
    }
    lines.push(`${a}\t${b}\t${expected}`);
  });
  await mkdir(dirname(output), { recursive: true });
  await writeFile(output, gzipSync(Buffer.from(`${lines.join("\n")}\n`), { level: 9 }));
  const size = (await readFile(output)).length;
  process.stderr.write(`wrote ${pairs.length} pairs (${size} bytes); our implementation disagrees on ${disagreements}\n`);
}

async function dpkgVersion(): Promise<string> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const { stdout } = await run("dpkg-query", ["-W", "-f=${Version}", "dpkg"]);
  return stdout.trim();
}

await main();
