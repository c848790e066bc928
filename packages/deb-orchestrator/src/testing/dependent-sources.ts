// Test support (not shipped): tiny native source packages that build-depend on each other's binaries,
// for dependency-aware building (dep-wait, chain-build, automatic rebuilds). They use no debhelper, so a
// build installs nothing beyond build-essential and the chain's own packages and takes seconds.
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "@debian-bootc/core";

export interface DemoBinary {
  name: string;
  /** The binary's Depends field, if any (substitution variables allowed). */
  depends?: string;
}

export interface DemoSource {
  source: string;
  version: string;
  /** The Build-Depends field, if any. */
  buildDepends?: string;
  binaries: DemoBinary[];
}

/** Where every demo binary puts its stamp: a file named after it holding "NAME VERSION". */
export const STAMP_DIR = "/usr/share/chaindemo";

/**
 * Writes and packs a native source package under `dir` and returns its .dsc. Each binary ships its stamp
 * and a copy of the stamps of every build-dependency found in STAMP_DIR at build time
 * (`NAME.built-with`), so a test can tell which version of a dependency a build really used.
 */
export async function makeDemoSource(dir: string, spec: DemoSource): Promise<string> {
  const tree = join(dir, `${spec.source}-${spec.version}`);
  await mkdir(join(tree, "debian", "source"), { recursive: true });
  const control = [
    `Source: ${spec.source}`,
    "Section: misc",
    "Priority: optional",
    "Maintainer: Test <test@localhost>",
    ...(spec.buildDepends ? [`Build-Depends: ${spec.buildDepends}`] : []),
    "Standards-Version: 4.7.0",
    "Rules-Requires-Root: no",
    "",
    ...spec.binaries.flatMap((b) => [
      `Package: ${b.name}`,
      "Architecture: any",
      ...(b.depends ? [`Depends: ${b.depends}`] : []),
      `Description: ${b.name}, a demo package for dependency-aware building`,
      " Built by deb-orchestrator's tests.",
      "",
    ]),
  ].join("\n");
  const binaryRules = spec.binaries.flatMap((b) => [
    `\trm -rf debian/pkg && mkdir -p debian/pkg/DEBIAN debian/pkg${STAMP_DIR}`,
    `\techo "${b.name} ${spec.version}" > debian/pkg${STAMP_DIR}/${b.name}`,
    `\tcat ${STAMP_DIR}/* > debian/pkg${STAMP_DIR}/${b.name}.built-with 2>/dev/null || true`,
    `\tdpkg-gencontrol -p${b.name} -Pdebian/pkg`,
    "\tdpkg-deb --root-owner-group --build debian/pkg ..",
  ]);
  const rules = [
    "#!/usr/bin/make -f",
    "build build-arch build-indep binary-indep:",
    "\ttrue",
    "clean:",
    "\trm -rf debian/pkg debian/files debian/substvars",
    "binary binary-arch:",
    ...binaryRules,
    "",
  ].join("\n");
  const date = "Thu, 03 Dec 2026 12:00:00 +0000";
  await writeFile(join(tree, "debian", "control"), control);
  await writeFile(join(tree, "debian", "rules"), rules, { mode: 0o755 });
  await writeFile(join(tree, "debian", "source", "format"), "3.0 (native)\n");
  await writeFile(
    join(tree, "debian", "changelog"),
    `${spec.source} (${spec.version}) trixie; urgency=medium\n\n  * Demo package.\n\n -- Test <test@localhost>  ${date}\n`,
  );
  await run("dpkg-source", ["-b", `${spec.source}-${spec.version}`], { cwd: dir, debianPackage: "dpkg-dev" });
  const dsc = (await readdir(dir)).find((f) => f === `${spec.source}_${spec.version}.dsc`);
  if (!dsc) throw new Error(`dpkg-source -b made no .dsc for ${spec.source} ${spec.version}`);
  return join(dir, dsc);
}

/** The chain's sources: an application that needs a middle library that needs a base library. */
export const CHAIN: readonly DemoSource[] = [
  {
    source: "chaindemo-lib",
    version: "1.0",
    binaries: [
      { name: "libchaindemo1" },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg substitution variable, not a template
      { name: "libchaindemo-dev", depends: "libchaindemo1 (= ${binary:Version})" },
    ],
  },
  {
    source: "chaindemo-mid",
    version: "1.0",
    buildDepends: "libchaindemo-dev (>= 1.0)",
    binaries: [{ name: "libchaindemo-mid-dev", depends: "libchaindemo-dev (>= 1.0)" }],
  },
  {
    source: "chaindemo-app",
    version: "1.0",
    buildDepends: "libchaindemo-mid-dev",
    binaries: [{ name: "chaindemo-app" }],
  },
];

/** Two sources that each build-depend on the other's binary: no order can build them. */
export const CYCLE: readonly DemoSource[] = [
  { source: "cycledemo-a", version: "1.0", buildDepends: "cycledemo-b-dev", binaries: [{ name: "cycledemo-a-dev" }] },
  { source: "cycledemo-b", version: "1.0", buildDepends: "cycledemo-a-dev", binaries: [{ name: "cycledemo-b-dev" }] },
];

/** Makes each source in its own directory under `dir`; the .dsc paths in the same order. */
export async function makeDemoSources(dir: string, specs: readonly DemoSource[]): Promise<string[]> {
  const dscs: string[] = [];
  for (const spec of specs) {
    const own = join(dir, `${spec.source}_${spec.version}`);
    await mkdir(own, { recursive: true });
    dscs.push(await makeDemoSource(own, spec));
  }
  return dscs;
}
