import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "@debian-bootc/core";
import { HubClient } from "@debian-bootc/deb-orchestrator";
import type { RepositoryFetch } from "@debian-bootc/debian";
import type { BuildState } from "../build/build-phase.js";
import type { OrchestratorConnection } from "../build/orchestrator-connection.js";
import type { PerVariantArch, PkgsetState } from "../compose/compose-state.js";
import type { Phase } from "../compose/phase-engine.js";
import { resolveVariant } from "../definition.js";
import { composeError } from "../errors.js";
import { defaultCacheDir } from "./cache-dir.js";
import { lockfilePins, readLockfile } from "./lockfile.js";
import {
  type IndexLoadEvent,
  type IndexPackage,
  loadIndexes,
  type OrchestratorRepositoryResolver,
  orchestratorRepositorySpec,
  type RepositorySpec,
  repositorySpecs,
} from "./repository-index.js";
import { CandidateView, type Pin, resolvePackageSet, type SelectionReason } from "./resolver.js";

/** Options the package-side phases share (the compose verb passes them). */
export interface PackageSideOptions {
  /** The definition's directory (repository keys are relative to it). */
  baseDir: string;
  /** Shared cache (default: defaultCacheDir()). */
  cacheDir?: string;
  /** Pin versions from this lockfile. */
  lockfile?: string;
  /** Mirror for `type: debian` repositories without one (default: the host's). */
  mirror?: string;
  /** Where earlier composes of the same name are (package diff); default: the output directory. */
  oldComposes?: string;
  /** Parallel downloads (default 4). */
  downloads?: number;
  /** The compose's deb-orchestrator (for `type: orchestrator` repositories without a hub). */
  orchestrator?: OrchestratorConnection;
}

export type PackageSideEvent =
  | ({ phase: "pkgset"; kind: "index" } & IndexLoadEvent)
  | { phase: "pkgset"; kind: "resolved"; variant: string; arch: string; packages: number }
  | { phase: "gather"; kind: "progress"; name: string; cached: boolean; done: number; total: number; bytes: number; totalBytes: number };

export async function cacheDirOf(options: PackageSideOptions): Promise<string> {
  return options.cacheDir ?? (await defaultCacheDir());
}

/** The pkgset phase: read and verify the repositories, resolve every variant for every arch. */
export function createPkgsetPhase(options: PackageSideOptions): Phase {
  return {
    name: "pkgset",
    async run(ctx) {
      const { definition } = ctx;
      const cacheDir = await cacheDirOf(options);
      const built = ctx.state.find("build");
      // the build phase's hub, read with the compose's token (a --private-read hub refuses anonymous reads)
      const builtHub = built ? await options.orchestrator?.opened() : undefined;
      const builtFetch = built && builtHub && sameUrl(builtHub.url, built.hub.url) ? builtHub.client.repoFetch : undefined;
      const orchestrator: OrchestratorRepositoryResolver = async (repo, field) => {
        const hub = repo.hub ?? definition.build?.hub;
        // the build phase's destination tag was read already, with the compose's token
        if (built && repo.tag === built.destTag && (hub === undefined || sameUrl(hub, built.hub.url)))
          return { ...builtRepositorySpec(built, builtFetch), ...(repo.name ? { name: repo.name } : {}) };
        const compose =
          options.orchestrator && (hub === undefined || hub === definition.build?.hub)
            ? await options.orchestrator.open(definition, options.baseDir, ctx.logger)
            : undefined;
        // the compose's hub is read with its token; another hub named by the definition without one
        const client =
          compose && (hub === undefined || sameUrl(hub, compose.url)) ? compose.client : hub ? new HubClient({ url: hub }) : undefined;
        if (!client)
          throw composeError("PKGSET_REPOSITORY_UNSUPPORTED", `${field}: deb-orchestrator tag ${repo.tag}: no hub to read it from`, {
            hint: "give the repository a hub: URL (or --hub)",
          });
        return orchestratorRepositorySpec(client, repo, options.baseDir, field);
      };
      const specs = await repositorySpecs(definition, options.baseDir, options.mirror, orchestrator);
      let builtRepository = "";
      if (built) {
        // the build phase's destination tag: its numbered repository, with the key the hub published
        const listed = specs.findIndex((s) => s.suites.includes(built.destTag) && s.url.startsWith(`${built.hub.url}/repos/`));
        const spec = { ...builtRepositorySpec(built, builtFetch), ...(listed >= 0 ? { name: specs[listed]!.name } : {}) };
        builtRepository = spec.name;
        if (listed >= 0) specs[listed] = spec;
        else specs.push(spec);
        ctx.logger.info({ repository: spec.url, builds: built.builds.length }, "the build phase's destination tag is an input repository");
      }
      const started = Date.now();
      const indexes = await loadIndexes({
        repositories: specs,
        arches: definition.arches,
        cacheDir,
        logger: ctx.logger,
        signal: ctx.signal,
        onIndex: (e) => ctx.emit({ phase: "pkgset", kind: "index", ...e }),
      });
      const loadedMs = Date.now() - started;
      let pins: Pin[] = [];
      if (options.lockfile) {
        pins = lockfilePins(await readLockfile(options.lockfile));
        ctx.logger.info({ lockfile: options.lockfile, pins: pins.length }, "versions pinned by the lockfile");
      }
      if (built) {
        // what the orchestrator built for this compose wins over the same names elsewhere (and over the lockfile)
        const buildPins: Pin[] = built.builds.flatMap((b) =>
          b.binaries.map((bin) => ({
            name: bin.name,
            version: bin.version,
            arch: bin.arch,
            sha256: bin.sha256,
            by: `deb-orchestrator build ${b.buildId} (${b.source} ${b.version})`,
            repository: builtRepository,
          })),
        );
        const key = (p: Pin) => `${p.name}/${p.arch}`;
        const overridden = new Set(buildPins.map(key));
        pins = [...pins.filter((p) => !overridden.has(key(p))), ...buildPins];
        ctx.logger.info({ pins: buildPins.length }, "binaries of the build phase pinned");
      }
      const sets: PerVariantArch<IndexPackage[]> = {};
      const reasons: PerVariantArch<Map<string, SelectionReason>> = {};
      await mkdir(join(ctx.composeDir, "work", "pkgset"), { recursive: true });
      for (const variant of Object.keys(definition.variants)) {
        sets[variant] = {};
        reasons[variant] = {};
        for (const arch of definition.arches) {
          ctx.signal.throwIfAborted();
          const t = Date.now();
          const request = resolveVariant(definition, variant, arch);
          const view = new CandidateView(indexes.byArch.get(arch) ?? [], arch, { exclude: request.exclude, pins });
          const set = resolvePackageSet(view, {
            arch,
            packages: request.packages,
            exclude: request.exclude,
            baseline: definition.baseline,
            recommends: definition.recommends,
            pins,
            label: `${variant}/${arch}`,
          });
          sets[variant][arch] = set.packages;
          reasons[variant][arch] = set.reasons;
          const bytes = set.packages.reduce((n, p) => n + p.size, 0);
          ctx.logger.info({ variant, arch, packages: set.packages.length, bytes, resolveMs: Date.now() - t }, "package set resolved");
          ctx.emit({ phase: "pkgset", kind: "resolved", variant, arch, packages: set.packages.length });
          const why = set.packages.map((p) => ({
            name: p.name,
            version: p.version,
            arch: p.architecture,
            reason: set.reasons.get(p.name),
          }));
          await writeFileAtomic(join(ctx.composeDir, "work", "pkgset", `${variant}.${arch}.json`), `${JSON.stringify(why, null, 2)}\n`);
        }
      }
      ctx.logger.info({ indexLoadMs: loadedMs, totalMs: Date.now() - started }, "pkgset timings");
      const state: PkgsetState = {
        baseline: definition.baseline,
        recommends: definition.recommends,
        repositories: indexes.repositories,
        sets,
        reasons,
        ...(options.lockfile ? { lockfile: options.lockfile } : {}),
      };
      ctx.state.set("pkgset", state);
    },
  };
}

/** The build phase's destination tag as a repository: its numbered snapshot and the key the hub published. */
function builtRepositorySpec(built: BuildState, fetch: RepositoryFetch | undefined): RepositorySpec {
  return {
    name: built.repository.name,
    url: built.repository.url,
    suites: [built.repository.suite],
    components: built.repository.components,
    keyring: built.repository.key,
    ...(fetch ? { fetch } : {}),
  };
}

function sameUrl(a: string, b: string): boolean {
  return a.replace(/\/+$/, "") === b.replace(/\/+$/, "");
}
