import type { GatherState, PkgsetState } from "../compose/compose-state.js";
import type { Phase, PhaseContext } from "../compose/phase-engine.js";
import { composeError } from "../errors.js";
import { cacheDirOf, type PackageSideOptions } from "../pkgset/pkgset-phase.js";
import type { IndexPackage } from "../pkgset/repository-index.js";
import { type DownloadItem, downloadAll } from "./downloader.js";

export function pkgsetState(ctx: PhaseContext, phase: string): PkgsetState {
  const state = ctx.state.find("pkgset");
  if (!state) {
    throw composeError(
      "PHASE_PREREQUISITE",
      `the ${phase} phase needs the package sets of the pkgset phase, which did not run in this compose`,
      {
        hint: `run pkgset too (--just-phase pkgset --just-phase ${phase})`,
      },
    );
  }
  return state;
}

/** Every distinct package of every set (by SHA256). */
export function allPackages(state: PkgsetState): IndexPackage[] {
  const unique = new Map<string, IndexPackage>();
  for (const byArch of Object.values(state.sets)) for (const list of Object.values(byArch)) for (const p of list) unique.set(p.sha256, p);
  return [...unique.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.architecture < b.architecture ? -1 : 1));
}

export function downloadItem(p: IndexPackage): DownloadItem {
  const url = `${p.origin.url.replace(/\/+$/, "")}/${p.filename}`;
  return { name: p.name, version: p.version, url, size: p.size, sha256: p.sha256, ...(p.origin.fetch ? { fetch: p.origin.fetch } : {}) };
}

/** The gather phase: exactly the resolved .debs into the shared cache, verified against the index. */
export function createGatherPhase(options: PackageSideOptions): Phase {
  return {
    name: "gather",
    async run(ctx) {
      const sets = pkgsetState(ctx, "gather");
      const packages = allPackages(sets);
      const started = Date.now();
      const result = await downloadAll(packages.map(downloadItem), {
        cacheDir: await cacheDirOf(options),
        parallel: options.downloads ?? 4,
        signal: ctx.signal,
        onProgress: (p) => {
          ctx.logger.debug(
            { package: p.item.name, version: p.item.version, cached: p.cached, done: p.done, total: p.total },
            "package gathered",
          );
          ctx.emit({
            phase: "gather",
            kind: "progress",
            name: p.item.name,
            cached: p.cached,
            done: p.done,
            total: p.total,
            bytes: p.bytes,
            totalBytes: p.totalBytes,
          });
        },
      });
      ctx.logger.info(
        {
          packages: packages.length,
          downloaded: result.downloaded,
          downloadedBytes: result.downloadedBytes,
          cached: result.cached,
          totalBytes: result.totalBytes,
          durationMs: Date.now() - started,
        },
        "packages gathered",
      );
      const state: GatherState = { files: result.files, downloadedBytes: result.downloadedBytes, totalBytes: result.totalBytes };
      ctx.state.set("gather", state);
    },
  };
}
