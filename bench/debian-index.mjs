#!/usr/bin/env node
// Parsing a whole APT Packages index and sorting all its versions with packages/debian, side by side
// with Debian's own implementations in the same run:
//   - parsing: apt's C++ tag-file parser (python3-apt, apt_pkg.TagFile), python-debian's pure-Python
//     deb822 reader, and grep-dctrl (dctrl-tools) extracting the Version field;
//   - version sort: apt's C++ comparator (apt_pkg.version_compare, same semantics as dpkg) sorting the
//     same list, and dpkg itself: `dpkg --compare-versions` timed on a random sample of comparisons and
//     extrapolated to the number of comparisons our sort made (a full sort through dpkg would take
//     hours), plus a check that apt's order is also ours;
//   - relations: every Depends field with parseRelations against apt_pkg.parse_depends.
//
//   npx tsc -b packages/debian && node bench/debian-index.mjs [--suite trixie] [--arch amd64] [--file PATH] [--runs 5]
//
// The index comes from the host's mirror (read from its APT sources at run time) and is cached in
// .cache/debian-index/. Needs xz-utils, python3-apt, python3-debian and dctrl-tools for the
// counterparts (missing ones are skipped with a message). Figures go to stdout; progress to stderr.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { hostMirror } from "./lib/host-mirror.mjs";
import { runChecked, runCommand } from "./lib/proc.mjs";
import { fmt, renderTable, summarize } from "./lib/stats.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = join(REPO, "packages/debian/dist/index.js");

const { values: opts } = parseArgs({
  options: {
    suite: { type: "string", default: "trixie" },
    arch: { type: "string", default: "amd64" },
    file: { type: "string" },
    runs: { type: "string", default: "5" },
    "dpkg-sample": { type: "string", default: "400" },
    help: { type: "boolean", default: false },
  },
});
if (opts.help) {
  process.stdout.write("Usage: node bench/debian-index.mjs [--suite trixie] [--arch amd64] [--file PATH] [--runs N] [--dpkg-sample N]\n");
  process.exit(0);
}
if (!existsSync(DIST)) {
  process.stderr.write("packages/debian is not built: run `npx tsc -b packages/debian` first\n");
  process.exit(1);
}
const deb = await import(DIST);
const runs = Number(opts.runs);
const say = (m) => process.stderr.write(`${m}\n`);
const PY = "/usr/bin/python3";

// ------------------------------------------------------------------ the index
async function indexPath() {
  if (opts.file) return opts.file;
  const dir = join(REPO, ".cache/debian-index");
  mkdirSync(dir, { recursive: true });
  const xzPath = join(dir, `${opts.suite}-Packages${opts.arch === "amd64" ? "" : `-${opts.arch}`}.xz`);
  const plain = xzPath.replace(/\.xz$/, "");
  if (!existsSync(xzPath)) {
    say(`downloading ${opts.suite} main/binary-${opts.arch}/Packages.xz from the host's mirror`);
    const response = await fetch(`${hostMirror()}/dists/${opts.suite}/main/binary-${opts.arch}/Packages.xz`);
    if (!response.ok) throw new Error(`Packages.xz: HTTP ${response.status}`);
    writeFileSync(xzPath, Buffer.from(await response.arrayBuffer()));
  }
  if (!existsSync(plain)) writeFileSync(plain, (await runChecked(["xz", "-dc", xzPath])).stdout);
  return plain;
}

const ms = (start) => Number(process.hrtime.bigint() - start) / 1e6;
/** Median wall-clock and CPU (user + system) milliseconds of n runs; CPU time is what a busy machine distorts least. */
function timeIt(fn, n = runs) {
  const times = [];
  const cpus = [];
  let result;
  for (let i = 0; i < n; i++) {
    const c = process.cpuUsage();
    const t = process.hrtime.bigint();
    result = fn();
    times.push(ms(t));
    const d = process.cpuUsage(c);
    cpus.push((d.user + d.system) / 1000);
  }
  return { ...summarize(times), cpu: summarize(cpus).median, result };
}

const path = await indexPath();
const text = readFileSync(path, "utf8");
say(`index: ${path} (${(text.length / 1e6).toFixed(1)} MB)`);

// ------------------------------------------------------------------ ours
const parseIter = timeIt(() => {
  const versions = [];
  for (const p of deb.iterateDeb822(text, { source: path })) versions.push(p.get("Version"));
  return versions;
});
const versions = parseIter.result;
const parseAll = timeIt(() => deb.parseDeb822(text, { source: path }).length);
const readParse = timeIt(() => {
  let n = 0;
  for (const p of deb.iterateDeb822(readFileSync(path, "utf8"))) if (p.get("Version")) n++;
  return n;
});
say(`ours: ${versions.length} stanzas`);

// how many comparisons a sort of this list makes (for the dpkg extrapolation below)
let comparisons = 0;
[...versions].sort((a, b) => {
  comparisons++;
  return deb.compareVersions(a, b);
});
const sortStringsPlain = timeIt(() => [...versions].sort(deb.compareVersions));
const sortParsed = timeIt(() => deb.sortVersions(versions));

const paragraphs = deb.parseDeb822(text);
const dependsFields = paragraphs.map((p) => p.get("Depends")).filter((d) => d !== undefined);
const relParse = timeIt(() => {
  let n = 0;
  for (const d of dependsFields) n += deb.parseRelations(d, { field: "Depends" }).length;
  return n;
});
const universe = timeIt(() => deb.PackageUniverse.fromParagraphs(opts.arch, paragraphs).size);

// ------------------------------------------------------------------ counterparts
const PY_BENCH = String.raw`
import sys, time, json, functools
path, out_sorted, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
res = {}
def median(xs):
    xs = sorted(xs); n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
try:
    import apt_pkg
    apt_pkg.init_system()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        versions = []
        with open(path) as f:
            for sec in apt_pkg.TagFile(f):
                versions.append(sec["Version"])
        times.append((time.perf_counter() - t) * 1000)
    res["apt_pkg_parse"] = median(times)
    res["stanzas"] = len(versions)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        s = sorted(versions, key=functools.cmp_to_key(apt_pkg.version_compare))
        times.append((time.perf_counter() - t) * 1000)
    res["apt_pkg_sort"] = median(times)
    with open(out_sorted, "w") as f:
        f.write("\n".join(s))
    deps = []
    with open(path) as f:
        for sec in apt_pkg.TagFile(f):
            d = sec.get("Depends")
            if d: deps.append(d)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        n = 0
        for d in deps:
            n += len(apt_pkg.parse_depends(d))
        times.append((time.perf_counter() - t) * 1000)
    res["apt_pkg_depends"] = median(times)
    res["apt_pkg_depends_groups"] = n
except ImportError as e:
    res["apt_pkg_error"] = str(e)
try:
    from debian import deb822
    t = time.perf_counter()
    n = 0
    with open(path) as f:
        for p in deb822.Packages.iter_paragraphs(f, use_apt_pkg=False):
            if p.get("Version"): n += 1
    res["python_debian_parse"] = (time.perf_counter() - t) * 1000
    res["python_debian_stanzas"] = n
except ImportError as e:
    res["python_debian_error"] = str(e)
print(json.dumps(res))
`;

const sortedByApt = join(tmpdir(), `debian-index-bench-${process.pid}.txt`);
say("python3-apt / python-debian counterparts");
const pyRun = await runCommand([PY, "-c", PY_BENCH, path, sortedByApt, String(Math.min(runs, 3))]);
const py = pyRun.code === 0 ? JSON.parse(pyRun.stdout) : { error: pyRun.stderr.trim().split("\n").pop() };

let aptOrderAgrees = "-";
if (existsSync(sortedByApt)) {
  const aptSorted = readFileSync(sortedByApt, "utf8").split("\n");
  let inversions = 0;
  for (let i = 0; i + 1 < aptSorted.length; i++) if (deb.compareVersions(aptSorted[i], aptSorted[i + 1]) > 0) inversions++;
  aptOrderAgrees = `${inversions} inversions in apt's order of ${aptSorted.length}`;
  rmSync(sortedByApt);
}

say("grep-dctrl");
const grepTimes = [];
let grepLines = 0;
for (let i = 0; i < Math.min(runs, 3); i++) {
  const r = await runCommand(["grep-dctrl", "-n", "-s", "Version", "-r", "-F", "Package", ".", path]);
  if (r.code !== 0) break;
  grepTimes.push(r.seconds * 1000);
  grepLines = r.stdout.split("\n").filter((l) => l !== "").length;
}

const sample = Number(opts["dpkg-sample"]);
say(`dpkg --compare-versions on ${sample} random pairs`);
let seed = 12345;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const pairs = Array.from({ length: sample }, () => [
  versions[Math.floor(rnd() * versions.length)],
  versions[Math.floor(rnd() * versions.length)],
]);
// one dpkg process per comparison, as a comparator would need; the pairs go through stdin
const LOOP = 'tab=$(printf "\\t"); while IFS="$tab" read -r a b; do dpkg --compare-versions "$a" lt "$b"; echo $?; done';
const dpkgRun = await runCommand(["sh", "-c", LOOP], { input: pairs.map(([a, b]) => `${a}\t${b}\n`).join("") });
const dpkgAnswers = dpkgRun.stdout.split("\n").filter((l) => l !== "");
const dpkgPerCompareMs = (dpkgRun.seconds * 1000) / sample;
let dpkgDisagree = 0;
pairs.forEach(([a, b], i) => {
  if ((dpkgAnswers[i] === "0") !== deb.compareVersions(a, b) < 0) dpkgDisagree++;
});

// ------------------------------------------------------------------ report
const row = (what, ours, theirs, theirMs) => [
  what,
  fmt(ours.median, 1),
  fmt(ours.cpu, 1),
  theirs,
  theirMs === undefined ? "-" : fmt(theirMs, 1),
  theirMs === undefined ? "-" : fmt(theirMs / ours.median, 1),
];
const rows = [
  row(`parse ${versions.length} stanzas (iterateDeb822, text in memory)`, parseIter, "apt_pkg.TagFile (C++, reads file)", py.apt_pkg_parse),
  row("parse (parseDeb822, whole list)", parseAll, "python-debian deb822 (pure Python)", py.python_debian_parse),
  row(
    "read file + parse (iterateDeb822)",
    readParse,
    `grep-dctrl -s Version (process)`,
    grepTimes.length ? summarize(grepTimes).median : undefined,
  ),
  row(`sort ${versions.length} versions (sortVersions)`, sortParsed, "apt_pkg.version_compare sort (C++)", py.apt_pkg_sort),
  row(
    "sort (array.sort(compareVersions))",
    sortStringsPlain,
    `dpkg --compare-versions x ${comparisons} (extrapolated)`,
    dpkgPerCompareMs * comparisons,
  ),
  row(`parse ${dependsFields.length} Depends fields (parseRelations)`, relParse, "apt_pkg.parse_depends (C++)", py.apt_pkg_depends),
  row("PackageUniverse.fromParagraphs (Provides parsed)", universe, "-", undefined),
];
process.stdout.write(
  `${renderTable(["ours", "wall ms", "cpu ms", "counterpart", "wall ms", "them/ours (wall)"], rows)}\n\n` +
    `runs: ${runs} (ours, median), ${Math.min(runs, 3)} (python, grep-dctrl); stanzas: ours ${versions.length}, apt_pkg ${py.stanzas ?? "-"}, ` +
    `python-debian ${py.python_debian_stanzas ?? "-"}, grep-dctrl ${grepLines || "-"}\n` +
    `sort: our comparator made ${comparisons} comparisons; dpkg costs ${fmt(dpkgPerCompareMs, 2)} ms per comparison ` +
    `(${sample} sampled, ${dpkgDisagree} disagreements with ours); apt's sorted list checked with ours: ${aptOrderAgrees}\n` +
    `Depends groups: ours ${relParse.result}, apt_pkg ${py.apt_pkg_depends_groups ?? "-"}; universe: ${universe.result} packages\n` +
    (py.error || py.apt_pkg_error || py.python_debian_error
      ? `python counterparts: ${py.error ?? ""} ${py.apt_pkg_error ?? ""} ${py.python_debian_error ?? ""}\n`
      : "") +
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")} on ${cpus().length} CPUs (wall times on a busy machine are pessimistic; CPU times much less so)\n` +
    `goal: parse a 60k-stanza Packages file well under a second: ${parseIter.median < 1000 ? "met" : "NOT met"} (${fmt(parseIter.median, 0)} ms wall, ${fmt(parseIter.cpu, 0)} ms CPU for ${versions.length} stanzas)\n`,
);
