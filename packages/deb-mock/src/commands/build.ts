import { type CommandSpec, coreError } from "@debian-bootc/core";
import { build } from "../build.js";
import type { BuildType } from "../source-input.js";
import { commonOptions } from "./common.js";

export const buildCommand: CommandSpec = {
  name: "build",
  summary: "Build a source package (.dsc, source tree, or PACKAGE[=VERSION]) in a fresh snapshot.",
  description:
    "Build in a fresh overlay snapshot of the profile's cached base: install Build-Depends (honouring Build-Conflicts) with apt, then run dpkg-buildpackage as an unprivileged user with no network, SOURCE_DATE_EPOCH from debian/changelog and DEB_BUILD_OPTIONS=parallel=N. SOURCE is a .dsc file, an unpacked source tree with a debian/ directory (its source package is built first), or PACKAGE[=VERSION] fetched from the profile's deb-src. The result directory (written atomically) holds the .debs, .buildinfo, .changes, build.log, root.log, state.log, installed-packages.log and result.json. Exit codes: 0 success, 1 the package failed to build (or a check failed), 2 bad input or configuration, 3 build dependencies cannot be satisfied, 4 environment error, 5 a cache lock is held, 130 interrupted.",
  args: [{ name: "source", description: "a .dsc file, a source directory, or PACKAGE[=VERSION]" }],
  options: [
    { flags: "--resultdir <dir>", description: "where to write the results (default ./deb-mock-results/SOURCE_VERSION)" },
    {
      flags: "--extra-repo <line>",
      description:
        "an extra APT source for this build: 'deb [options] URI SUITE COMPONENT...'; a signed-by=/host/key.asc is copied into the environment",
      repeatable: true,
    },
    {
      flags: "--extra-repo-key <file>",
      description: "a key file (host path) for the --extra-repo lines that name no signed-by or trusted",
      repeatable: true,
    },
    { flags: "--arch-only", description: "build only architecture-dependent packages (dpkg-buildpackage --build=any)", default: false },
    { flags: "--indep-only", description: "build only architecture-independent packages (--build=all)", default: false },
    { flags: "--source-and-binary", description: "build the source package too (--build=full)", default: false },
    { flags: "--nocheck", description: "skip the test suite (DEB_BUILD_OPTIONS and DEB_BUILD_PROFILES nocheck)", default: false },
    { flags: "--no-clean", description: "keep the snapshot afterwards (see 'deb-mock shell --snapshot ID')" },
    { flags: "--enable-network", description: "let dpkg-buildpackage use the network (off by default)", default: false },
    { flags: "--parallel <n>", description: "DEB_BUILD_OPTIONS parallel=N (default: the profile's, auto = CPUs)" },
    { flags: "--lintian", description: "run lintian on the result (recorded in result.json)", default: false },
    { flags: "--install-test", description: "install the built .debs into a fresh snapshot", default: false },
    { flags: "--reproducible", description: "build twice in fresh snapshots with different paths and compare the .debs", default: false },
    {
      flags: "--binnmu <n>",
      description:
        "a binary-only rebuild (as sbuild's --binNMU): a changelog entry VERSION+bN is added to the unpacked tree, only arch-dependent packages are built",
    },
    { flags: "--binnmu-reason <text>", description: "the binNMU's changelog line (as sbuild's --make-binNMU; default: Rebuild.)" },
  ],
  examples: [
    "deb-mock build hello_2.10-5.dsc",
    "deb-mock -r debian-sid-amd64 build hello --resultdir out/",
    "deb-mock build . --nocheck --install-test",
    "deb-mock build foo_1.0-1.dsc --binnmu 1 --binnmu-reason 'Rebuild against libbar 2.0.'",
    "deb-mock build foo.dsc --extra-repo 'deb [signed-by=/srv/hub/key.asc] http://hub.example/repos/trixie-build ./'",
  ],
  async run(ctx) {
    const o = ctx.options;
    const types = [o.archOnly && "arch", o.indepOnly && "indep", o.sourceAndBinary && "full"].filter(Boolean) as BuildType[];
    if (types.length > 1) {
      throw coreError("USAGE", "--arch-only, --indep-only and --source-and-binary exclude each other");
    }
    const parallel = o.parallel === undefined ? undefined : Number(o.parallel);
    if (parallel !== undefined && !(Number.isInteger(parallel) && parallel > 0)) {
      throw coreError("USAGE", `--parallel ${String(o.parallel)}: expected a positive integer`);
    }
    if (o.binnmuReason !== undefined && o.binnmu === undefined) throw coreError("USAGE", "--binnmu-reason needs --binnmu N");
    if (o.binnmu !== undefined && (types[0] ?? "arch") !== "arch") throw coreError("USAGE", "--binnmu builds only arch-dependent packages");
    const { result, resultDir } = await build({
      ...commonOptions(ctx),
      source: ctx.args[0]!,
      resultDir: o.resultdir as string | undefined,
      extraRepos: (o.extraRepo as string[] | undefined) ?? [],
      extraRepoKeys: (o.extraRepoKey as string[] | undefined) ?? [],
      buildType: types[0] ?? "binary",
      nocheck: o.nocheck === true,
      noClean: o.clean === false,
      network: o.enableNetwork === true ? true : undefined,
      parallel,
      lintian: o.lintian === true,
      installTest: o.installTest === true,
      reproducible: o.reproducible === true,
      ...(o.binnmu !== undefined
        ? { binnmu: { number: Number(o.binnmu), reason: (o.binnmuReason as string | undefined) ?? "Rebuild." } }
        : {}),
    });
    if (ctx.json) ctx.out.json({ resultDir, ...result });
    else {
      const what = result.source ? `${result.source.name} ${result.source.version}` : ctx.args[0];
      ctx.out.line(
        `${what}: ${result.status} (exit ${result.exitCode}) in ${(result.durationMs / 1000).toFixed(1)} s; results in ${resultDir}`,
      );
      for (const a of result.artifacts) ctx.out.line(`  ${a.name}`);
      if (result.error) ctx.out.error(`deb-mock: ${result.error.message.split("\n").slice(0, 6).join("\n")}`);
      if (result.error?.hint) ctx.out.error(`hint: ${result.error.hint}`);
      if (o.clean === false && result.snapshot) ctx.out.line(`snapshot kept: ${result.snapshot}`);
    }
    return result.exitCode;
  },
};
