#!/usr/bin/env node
import { createHash } from "node:crypto";
// The build-dependency check of packages/debian (checkBuildDependencies: a complete installability
// search over Depends/Pre-Depends/Conflicts/Breaks, Essential packages included) side by side with
// dose-builddebcheck (Debian's dose-extra) on the same data: trixie main amd64's Packages index and a
// sample of real trixie sources from its Sources index, both read from the host's mirror (through its
// APT sources, verified against debian-archive-keyring) and cached under /var/cache/debian-bootc by
// their Release hash.
//
//   npx tsc -b packages/debian && node bench/build-dep-check.mjs [--sample 40] [--runs 5] [--no-apt]
//
// Measured:
//   - index load: Packages text to an indexed BinaryPackageIndex (parse + index by name and Provides);
//   - per source: our check with a fresh checker (cold: relations of the packages reached are parsed
//     on first use), and again with the same checker (warm: what a hub that keeps its index sees), with
//     the number of build-dependency groups; plus the largest source of the whole Sources index by groups;
//   - dose: one run on one source (index load + one check) and one on the whole sample; its time per
//     source is the difference divided by the sample size less one;
//   - apt-get satisfy --simulate (unless --no-apt): one run per source through a private APT
//     configuration (trixie from the host's mirror, empty dpkg status), which includes apt's cache load.
// Verdicts are compared too (dose vs ours; apt's is shown but not the same question: no Essential set).
// Figures go to stdout, progress to stderr.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runChecked, runCommand } from "./lib/proc.mjs";
import { fmt, renderTable, summarize } from "./lib/stats.mjs";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: opts } = parseArgs({
  options: {
    sample: { type: "string", default: "40" },
    runs: { type: "string", default: "5" },
    "no-apt": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (opts.help) {
  process.stdout.write("Usage: node bench/build-dep-check.mjs [--sample N] [--runs N] [--no-apt]\n");
  process.exit(0);
}
const deb = await import(join(REPO, "packages/debian/dist/index.js")).catch(() => {
  process.stderr.write("packages/debian is not built: run `npx tsc -b packages/debian` first\n");
  process.exit(1);
});
const say = (m) => process.stderr.write(`${m}\n`);
const ms = (start) => Number(process.hrtime.bigint() - start) / 1e6;
const ARCH = "amd64";
const CACHE = "/var/cache/debian-bootc";
const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

// ------------------------------------------------------------------ the data
const mirror = await deb.defaultMirror();
say("reading trixie's InRelease from the host's mirror");
const reader = await deb.readRepository(mirror, { suite: "trixie", keyring: { path: KEYRING }, verifier: "gpgv" });
const packagesText = (await deb.cachedIndex(reader, `main/binary-${ARCH}/Packages`, CACHE)).text;
const sourcesText = (await deb.cachedIndex(reader, "main/source/Sources", CACHE)).text;

let t = process.hrtime.bigint();
const index = deb.BinaryPackageIndex.fromIndexes(ARCH, [{ name: "debian/trixie", paragraphs: deb.iterateDeb822(packagesText) }]);
const loadMs = ms(t);
say(`index: ${index.size} packages loaded in ${fmt(loadMs, 0)} ms`);

const nameHash = (name) => createHash("sha256").update(name).digest().readUInt32BE(0);
const buildable = (p) => (p.get("Architecture") ?? "").split(/\s+/).some((a) => a === "all" || deb.archMatches(ARCH, a));
const groupCount = (p) =>
  ["Build-Depends", "Build-Depends-Arch", "Build-Depends-Indep"].reduce(
    (n, f) => n + (p.get(f) ? deb.reduceRelations(deb.parseRelations(p.get(f)), { arch: ARCH }).length : 0),
    0,
  );
const allSources = [...deb.iterateDeb822(sourcesText)].filter(buildable);
const largest = allSources.reduce((best, p) => (groupCount(p) > groupCount(best) ? p : best));
const sample = [...allSources].sort((a, b) => nameHash(a.get("Package")) - nameHash(b.get("Package"))).slice(0, Number(opts.sample) - 1);
sample.push(largest);

// ------------------------------------------------------------------ ours
const runs = Number(opts.runs);
const ours = new Map();
const shared = new deb.InstallabilityChecker(index);
for (const source of sample) {
  const name = source.get("Package");
  t = process.hrtime.bigint();
  const cold = deb.checkBuildDependencies(source, new deb.InstallabilityChecker(index), { arch: ARCH });
  const coldMs = ms(t);
  deb.checkBuildDependencies(source, shared, { arch: ARCH });
  const warm = [];
  for (let i = 0; i < runs; i++) {
    t = process.hrtime.bigint();
    deb.checkBuildDependencies(source, shared, { arch: ARCH });
    warm.push(ms(t));
  }
  ours.set(name, {
    groups: groupCount(source),
    coldMs,
    warmMs: summarize(warm).median,
    satisfiable: cold.satisfiable,
    installed: cold.installSet?.length ?? 0,
  });
}

// ------------------------------------------------------------------ dose-builddebcheck
const work = mkdtempSync(join(tmpdir(), "build-dep-bench-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));
writeFileSync(join(work, "Packages"), packagesText);
const dose = async (sources) => {
  const file = join(work, `Sources.${sources.length}`);
  writeFileSync(file, deb.formatDeb822(sources));
  const r = await runCommand([
    "dose-builddebcheck",
    `--deb-native-arch=${ARCH}`,
    "--successes",
    "--failures",
    join(work, "Packages"),
    file,
  ]);
  if (r.code !== 0 && r.code !== 1) throw new Error(`dose-builddebcheck exited with ${r.code}: ${r.stderr.slice(-400)}`);
  const verdicts = new Map();
  for (const block of r.stdout.split(/\n -\n/).slice(1)) {
    const n = /^ {2}package: (\S+)/m.exec(block)?.[1];
    const s = /^ {2}status: (\S+)/m.exec(block)?.[1];
    if (n) verdicts.set(n, s);
  }
  return { seconds: r.seconds, verdicts };
};
say("dose-builddebcheck on one source, then on the sample");
const doseOne = await dose([largest]);
const doseAll = await dose(sample);
const dosePerSourceMs = ((doseAll.seconds - doseOne.seconds) / Math.max(1, sample.length - 1)) * 1000;

// ------------------------------------------------------------------ apt-get satisfy --simulate
const apt = new Map();
if (!opts["no-apt"]) {
  const dir = join(work, "apt");
  for (const d of ["etc/sources.list.d", "etc/preferences.d", "lists/partial", "cache/archives/partial"])
    mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, "etc/sources.list"), `deb [signed-by=${KEYRING}] ${mirror} trixie main\n`);
  writeFileSync(join(dir, "status"), "");
  const aptOptions = [
    ["Dir::Etc::SourceList", join(dir, "etc/sources.list")],
    ["Dir::Etc::SourceParts", join(dir, "etc/sources.list.d")],
    ["Dir::Etc::Preferences", join(dir, "etc/preferences")],
    ["Dir::Etc::PreferencesParts", join(dir, "etc/preferences.d")],
    ["Dir::State::Lists", join(dir, "lists")],
    ["Dir::State::status", join(dir, "status")],
    ["Dir::Cache", join(dir, "cache")],
    ["APT::Architecture", ARCH],
    ["APT::Architectures", ARCH],
  ].flatMap(([k, v]) => ["-o", `${k}=${v}`]);
  say("apt-get update (private configuration: trixie main from the host's mirror)");
  await runChecked(["apt-get", ...aptOptions, "update"]);
  for (const source of sample) {
    const bd = ["Build-Depends", "Build-Depends-Arch", "Build-Depends-Indep"]
      .map((f) => source.get(f))
      .filter(Boolean)
      .map((v) => deb.formatRelations(deb.reduceRelations(deb.parseRelations(v), { arch: ARCH })))
      .filter(Boolean)
      .join(", ");
    const r = await runCommand(["apt-get", ...aptOptions, "satisfy", "--simulate", "-qq", bd || "dpkg"]);
    apt.set(source.get("Package"), { ms: r.seconds * 1000, ok: r.code === 0 });
  }
}

// ------------------------------------------------------------------ report
const rows = sample.map((source) => {
  const name = source.get("Package");
  const o = ours.get(name);
  const a = apt.get(name);
  return [
    name,
    String(o.groups),
    String(o.installed),
    fmt(o.coldMs, 2),
    fmt(o.warmMs, 2),
    o.satisfiable ? "ok" : "broken",
    doseAll.verdicts.get(name) ?? "-",
    a ? fmt(a.ms, 0) : "-",
    a ? (a.ok ? "ok" : "broken") : "-",
  ];
});
process.stdout.write(
  `${renderTable(["source", "groups", "install set", "ours cold ms", "ours warm ms", "ours", "dose", "apt satisfy ms", "apt"], rows)}\n\n`,
);
const cold = summarize([...ours.values()].map((o) => o.coldMs));
const warm = summarize([...ours.values()].map((o) => o.warmMs));
const agree = sample.filter(
  (s) => (ours.get(s.get("Package")).satisfiable ? "ok" : "broken") === doseAll.verdicts.get(s.get("Package")),
).length;
const largestFigures = ours.get(largest.get("Package"));
const aptMedian = summarize([...apt.values()].map((a) => a.ms)).median;
const lines = [
  `index: ${index.size} packages, loaded in ${fmt(loadMs, 0)} ms (dose-builddebcheck on one source, load included: ${fmt(doseOne.seconds * 1000, 0)} ms)`,
  `ours per source: cold median ${fmt(cold.median, 2)} ms (max ${fmt(cold.max, 2)}), warm median ${fmt(warm.median, 2)} ms (max ${fmt(warm.max, 2)})`,
  `largest source ${largest.get("Package")} (${largestFigures.groups} build-dependency groups, ${largestFigures.installed} packages installed): cold ${fmt(largestFigures.coldMs, 2)} ms, warm ${fmt(largestFigures.warmMs, 2)} ms`,
  `dose-builddebcheck: ${fmt(doseAll.seconds, 1)} s for ${sample.length} sources, ${fmt(dosePerSourceMs, 2)} ms per source after its load`,
  `ratio dose per source / ours cold per source: ${fmt(dosePerSourceMs / cold.median, 1)}x; whole run (load + sample): dose ${fmt(doseAll.seconds * 1000, 0)} ms, ours ${fmt(loadMs + cold.median * sample.length, 0)} ms`,
  aptMedian === null
    ? "apt-get satisfy --simulate: skipped"
    : `apt-get satisfy --simulate: median ${fmt(aptMedian, 0)} ms per source (ratio to ours cold: ${fmt(aptMedian / cold.median, 0)}x)`,
  `verdicts: ours and dose agree on ${agree} of ${sample.length}`,
];
process.stdout.write(`${lines.join("\n")}\n`);
