import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { run } from "@debian-bootc/core";
import { describe, expect, it } from "vitest";
import { defaultMirror } from "./apt-sources.js";
import { formatRelations, parseRelations, reduceRelations } from "./relation.js";

/**
 * Differential test against dpkg-dev's own parser (Dpkg::Deps from libdpkg-perl): every real
 * Build-Depends/-Conflicts field of the fixture, parsed and reduced for several architectures and
 * build-profile sets, must come out exactly as `deps_parse(..., reduce_arch, reduce_profiles)` writes it.
 */
const PERL = String.raw`
use strict; use warnings;
use Dpkg::Deps;
binmode STDOUT, ':utf8';
while (my $line = <STDIN>) {
  chomp $line;
  my ($arch, $profiles, $field) = split /\t/, $line, 3;
  my @profiles = grep { length } split / /, $profiles;
  my %opts = (build_dep => 1);
  if ($arch ne '-') {
    %opts = (%opts, reduce_arch => 1, host_arch => $arch, reduce_profiles => 1, build_profiles => \@profiles);
  }
  local $SIG{__WARN__} = sub {};
  my $dep = deps_parse($field, %opts);
  print defined $dep ? "$dep\n" : "ERROR\n";
}
`;

const fields = readFileSync(new URL("./__fixtures__/relations-trixie.txt", import.meta.url), "utf8")
  .split("\n")
  .filter((l) => l.startsWith("Build-"))
  .map((l) => l.slice(l.indexOf(": ") + 2));

const settings: Array<{ arch: string; profiles: string[] }> = [
  { arch: "-", profiles: [] }, // no reduction: the canonical spelling
  { arch: "amd64", profiles: [] },
  { arch: "i386", profiles: ["nocheck", "nodoc"] },
  { arch: "arm64", profiles: ["cross"] },
  { arch: "armhf", profiles: ["stage1", "nocheck"] },
  { arch: "hurd-amd64", profiles: [] },
  { arch: "kfreebsd-amd64", profiles: ["stage2"] },
  { arch: "x32", profiles: ["nojava", "nopython"] },
  { arch: "musl-linux-arm64", profiles: [] },
  { arch: "s390x", profiles: ["pkg.gcc.nolto", "noudeb"] },
];

/** Our parse (+ reduce) and dpkg-dev's for each case; returns the differences. */
async function compareWithDpkgDev(cases: Array<{ arch: string; profiles: string[]; field: string }>): Promise<string[]> {
  const lines = cases.map((c) => `${c.arch}\t${c.profiles.join(" ")}\t${c.field}`);
  const ours = cases.map(({ arch, profiles, field }) => {
    const rels = parseRelations(field, { field: "Build-Depends" });
    return formatRelations(arch === "-" ? rels : reduceRelations(rels, { arch, profiles }));
  });
  const { stdout } = await run("perl", ["-e", PERL], { input: `${lines.join("\n")}\n`, debianPackage: "libdpkg-perl" });
  const theirs = stdout.split("\n").slice(0, -1);
  expect(theirs).toHaveLength(lines.length);
  const differences: string[] = [];
  theirs.forEach((t, i) => {
    if (t !== ours[i]) differences.push(`${lines[i]}\n  dpkg-dev: ${t}\n  ours:     ${ours[i]}`);
  });
  return differences;
}

/** trixie's Sources index from the host's mirror, cached where scripts/make-version-pairs.ts caches it. */
async function trixieSources(): Promise<string> {
  const dir = fileURLToPath(new URL("../../../.cache/debian-index/", import.meta.url));
  const file = `${dir}trixie-Sources.xz`;
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const response = await fetch(`${await defaultMirror()}/dists/trixie/main/source/Sources.xz`);
    expect(response.ok).toBe(true);
    writeFileSync(file, Buffer.from(await response.arrayBuffer()));
  }
  return (await run("xz", ["-dc", file], { debianPackage: "xz-utils" })).stdout;
}

describe("relations against dpkg-dev's Dpkg::Deps", () => {
  it(`parses and reduces ${fields.length} real Build-Depends fields for ${settings.length} settings exactly as dpkg-dev does`, async () => {
    const cases = settings.flatMap(({ arch, profiles }) => fields.map((field) => ({ arch, profiles, field })));
    const differences = await compareWithDpkgDev(cases);
    console.info(`relations: ${cases.length} field/setting cases against Dpkg::Deps, ${differences.length} differences`);
    expect(differences.slice(0, 5)).toEqual([]);
    // the settings matter: most fields reduce differently from their unreduced form somewhere
    const changed = cases.filter(
      (c, i) => c.arch !== "-" && formatRelations(reduceRelations(parseRelations(c.field), c)) !== fields[i % fields.length],
    );
    expect(changed.length).toBeGreaterThan(fields.length);
  });

  it.each([
    { arch: "amd64", profiles: [] as string[] },
    { arch: "hurd-i386", profiles: ["nocheck"] },
    { arch: "armhf", profiles: ["cross", "stage1"] },
  ])("agrees on every Build-Depends/-Conflicts field of trixie's Sources ($arch, $profiles)", async ({ arch, profiles }) => {
    const text = await trixieSources();
    const all = [...text.matchAll(/^Build-(?:Depends|Conflicts)(?:-Arch|-Indep)?:[ \t]*(.*(?:\n[ \t].*)*)/gm)].map((m) =>
      m[1]!.replace(/\n[ \t]+/g, " ").trim(),
    );
    expect(all.length).toBeGreaterThan(30_000);
    const differences = await compareWithDpkgDev(all.map((field) => ({ arch, profiles, field })));
    console.info(
      `relations: ${all.length} trixie source fields against Dpkg::Deps (${arch}, <${profiles.join(" ")}>), ${differences.length} differences`,
    );
    expect(differences.slice(0, 5)).toEqual([]);
  });
});
