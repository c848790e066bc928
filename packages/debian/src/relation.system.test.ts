import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { run } from "@debian-bootc/core";
import { describe, expect, it } from "vitest";
import { defaultMirror } from "./apt-sources.js";
import { parseDeb822 } from "./deb822.js";
import {
  candidateFromParagraph,
  formatRelation,
  formatRelations,
  PackageUniverse,
  parseRelations,
  reduceRelations,
  satisfyGroup,
} from "./relation.js";

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

/**
 * Evaluation: which reduced Build-Depends groups the host's installed packages satisfy, ours against
 * dpkg-dev's Dpkg::Deps::KnownFacts filled from /var/lib/dpkg/status the way dpkg-checkbuilddeps
 * fills it. The fixture's fields come from trixie and the host runs another release, so the answers
 * mix satisfied and unsatisfied groups (missing packages, too-old versions, virtual packages).
 */
const PERL_EVAL = String.raw`
use strict; use warnings;
use Dpkg::Deps; use Dpkg::Deps::KnownFacts;
my ($status, $arch) = @ARGV;
my $facts = Dpkg::Deps::KnownFacts->new();
{
  local $/ = '';
  open(my $fh, '<', $status) or die "$status: $!";
  while (my $p = <$fh>) {
    next unless $p =~ /^Status: .*ok installed$/m;
    my ($name) = $p =~ /^Package: (.*)$/m;
    my ($version) = $p =~ /^Version: (.*)$/m;
    my ($a) = $p =~ /^Architecture: (.*)$/m;
    my ($ma) = $p =~ /^Multi-Arch: (.*)$/m;
    $facts->add_installed_package($name, $version, $a, $ma);
    if (my ($prov) = $p =~ /^Provides: (.*)$/m) {
      my $deps = deps_parse($prov, reduce_arch => 1, virtual => 1, union => 1) or next;
      for my $d (grep { $_->isa('Dpkg::Deps::Simple') } $deps->get_deps()) {
        $facts->add_provided_package($d->{package}, $d->{relation}, $d->{version}, $name);
      }
    }
  }
}
local $SIG{__WARN__} = sub {};
while (my $line = <STDIN>) {
  chomp $line;
  my $dep = deps_parse($line, build_dep => 1, host_arch => $arch, build_arch => $arch);
  my ($group) = $dep->get_deps();
  my $r = $group->get_evaluation($facts);
  print defined $r ? "$r\n" : "undef\n";
}
`;

describe("evaluation against the installed packages, compared with dpkg-dev", () => {
  it("satisfies the same Build-Depends groups as Dpkg::Deps::KnownFacts", async () => {
    const arch = (await run("dpkg", ["--print-architecture"])).stdout.trim();
    const installed = parseDeb822(readFileSync("/var/lib/dpkg/status", "utf8"), { source: "/var/lib/dpkg/status" }).filter((p) =>
      /ok installed$/.test(p.get("Status") ?? ""),
    );
    const universe = new PackageUniverse(arch, installed.map(candidateFromParagraph));
    const groups = new Map<string, boolean>();
    for (const field of fields) {
      for (const group of reduceRelations(parseRelations(field), { arch })) {
        groups.set(group.map(formatRelation).join(" | "), satisfyGroup(group, universe).satisfied);
      }
    }
    const texts = [...groups.keys()];
    const { stdout } = await run("perl", ["-e", PERL_EVAL, "/var/lib/dpkg/status", arch], {
      input: `${texts.join("\n")}\n`,
      debianPackage: "libdpkg-perl",
    });
    const theirs = stdout.split("\n").slice(0, -1);
    expect(theirs).toHaveLength(texts.length);
    const differences: string[] = [];
    texts.forEach((t, i) => {
      if (String(groups.get(t) ? 1 : 0) !== theirs[i]) differences.push(`${t}: ours ${groups.get(t)}, dpkg-dev ${theirs[i]}`);
    });
    const satisfied = [...groups.values()].filter(Boolean).length;
    console.info(`evaluation: ${texts.length} distinct groups (${satisfied} satisfied by this host), ${differences.length} differences`);
    expect(satisfied).toBeGreaterThan(20);
    expect(texts.length - satisfied).toBeGreaterThan(20);
    expect(differences.slice(0, 10)).toEqual([]);
  });
});
