import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { packageVersion, pathExists, writeFileAtomic } from "@debian-bootc/core";
import { hashFileWith } from "@debian-bootc/debian";
import { type BuildState, buildOrigins } from "../build/build-phase.js";
import { parseComposeId } from "../compose/compose-id.js";
import type { ImageRecord, PerVariantArch, PkgsetState } from "../compose/compose-state.js";
import type { Phase, PhaseContext } from "../compose/phase-engine.js";
import { previousComposeDir } from "../compose/previous-compose.js";
import { imageReference } from "../definition.js";
import type { PackageSideOptions } from "../pkgset/pkgset-phase.js";
import { writeChecksums } from "./checksums.js";
import {
  diffPackages,
  findPreviousCompose,
  formatPackageDiff,
  type PackageRecord,
  type PackagesMetadata,
  readPackagesMetadata,
} from "./package-diff.js";
import { spdxDocument } from "./sbom.js";

/**
 * The metadata phase: compose/metadata/{composeinfo,packages,images}.json, an SPDX SBOM per image,
 * the package diff against the previous compose of the same name, and compose/SHA256SUMS over every
 * file of the compose (OSTree repositories' objects aside).
 */

export interface MetadataOptions extends Pick<PackageSideOptions, "oldComposes"> {
  /** Compose label (e.g. RC-1.0), recorded in composeinfo.json. */
  label?: string;
}

export interface ImageMetadata extends ImageRecord {
  size: number;
  /** SHA256 of the file, for file deliverables. */
  sha256?: string;
}

const TOOL_VERSION = packageVersion(new URL("../x", import.meta.url).href);

/** OCI layout: the manifest digest of its first image and the bytes of manifest, config and layers. */
async function ociLayoutInfo(layout: string): Promise<{ digest: string; size: number } | undefined> {
  try {
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests?: Array<{ digest: string; size: number }> };
    const m = index.manifests?.[0];
    if (!m) return undefined;
    const [alg, hex] = m.digest.split(":");
    const manifest = JSON.parse(await readFile(join(layout, "blobs", alg!, hex!), "utf8")) as {
      config: { size: number };
      layers: Array<{ size: number }>;
    };
    return { digest: m.digest, size: m.size + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0) };
  } catch {
    return undefined;
  }
}

const DISK_TYPES: Record<string, string> = { ".qcow2": "qcow2", ".raw": "raw", ".img": "raw", ".ociarchive": "ociarchive", ".iso": "iso" };

/** Images in compose/<variant>/<arch>/ (OCI layouts, archives, disks), merged with what phases recorded. */
export async function collectImages(ctx: Pick<PhaseContext, "composeDir" | "definition" | "state">): Promise<ImageMetadata[]> {
  const found = new Map<string, ImageMetadata>();
  // what the phases that wrote (or took over) a file hashed already is not hashed again
  const hashed = new Map((ctx.state.find("images") ?? []).flatMap((r) => (r.sha256 ? [[r.path, r.sha256] as const] : [])));
  const base = join(ctx.composeDir, "compose");
  for (const variant of Object.keys(ctx.definition.variants)) {
    for (const arch of ctx.definition.arches) {
      const dir = join(base, variant, arch);
      let entries: string[];
      try {
        entries = (await readdir(dir)).sort();
      } catch {
        continue;
      }
      for (const entry of entries) {
        const path = join(dir, entry);
        const rel = relative(ctx.composeDir, path);
        const s = await stat(path);
        if (s.isDirectory() && (await pathExists(join(path, "oci-layout"), { followLinks: true }))) {
          const info = await ociLayoutInfo(path);
          found.set(rel, {
            variant,
            arch,
            type: "oci",
            format: "oci-layout",
            path: rel,
            size: info?.size ?? 0,
            ...(info ? { digest: info.digest } : {}),
          });
        } else if (s.isFile()) {
          const ext = entry.slice(entry.lastIndexOf("."));
          const type = DISK_TYPES[ext];
          if (type)
            found.set(rel, {
              variant,
              arch,
              type,
              format: type === "ociarchive" ? "oci-archive" : type,
              path: rel,
              size: s.size,
              sha256: hashed.get(rel) ?? (await hashFileWith(path, ["sha256"])).sha256,
            });
        }
      }
    }
  }
  for (const record of ctx.state.find("images") ?? []) {
    const prior = found.get(record.path);
    let size = prior?.size ?? 0;
    if (!prior) {
      try {
        size = (await stat(join(ctx.composeDir, record.path))).size;
      } catch {
        // recorded but not a file here (an ostree ref, say)
      }
    }
    found.set(record.path, { ...prior, ...record, size });
  }
  return [...found.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
}

function packageRecords(state: PkgsetState, built?: BuildState): PerVariantArch<PackageRecord[]> {
  const origins = buildOrigins(built);
  const out: PerVariantArch<PackageRecord[]> = {};
  for (const [variant, byArch] of Object.entries(state.sets)) {
    out[variant] = {};
    for (const [arch, list] of Object.entries(byArch)) {
      out[variant][arch] = list.map((p) => ({
        name: p.name,
        version: p.version,
        arch: p.architecture,
        source: p.source,
        sourceVersion: p.sourceVersion,
        sha256: p.sha256,
        size: p.size,
        filename: p.filename,
        repository: p.origin.repository,
        suite: p.origin.suite,
        component: p.origin.component,
        ...orchestratorOrigin(origins, p.sha256, p.architecture),
      }));
    }
  }
  return out;
}

/** Where a package the orchestrator built for this compose came from: hub, build, task, buildroot. */
function orchestratorOrigin(origins: ReturnType<typeof buildOrigins>, sha256: string, arch: string): Pick<PackageRecord, "orchestrator"> {
  const origin = origins.get(sha256);
  if (!origin) return {};
  const perArch = origin.build.arches.find((a) => a.arch === arch) ?? origin.build.arches[0];
  return {
    orchestrator: {
      hub: origin.hub,
      tag: origin.tag,
      build: origin.build.buildId,
      task: origin.build.task,
      buildArchTask: perArch?.task ?? null,
      buildroot: perArch?.buildroot ?? null,
      host: perArch?.host ?? null,
    },
  };
}

export function createMetadataPhase(options: MetadataOptions = {}): Phase {
  return {
    name: "metadata",
    async run(ctx) {
      const { definition, composeId } = ctx;
      const meta = join(ctx.composeDir, "compose", "metadata");
      await mkdir(meta, { recursive: true });
      const created = process.env.SOURCE_DATE_EPOCH ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000) : new Date();
      const pkgset = ctx.state.find("pkgset");
      const snapshot = ctx.state.find("snapshot");
      const parsedId = parseComposeId(composeId);
      const header = (type: string) => ({ type: `deb-bootc-compose.${type}`, version: "1.0" });

      let packages: PackagesMetadata | undefined;
      if (pkgset) {
        packages = {
          header: { type: "deb-bootc-compose.packages", version: "1.0" },
          payload: {
            compose: { id: composeId, name: definition.name, version: definition.version },
            packages: packageRecords(pkgset, ctx.state.find("build")),
          },
        };
        await writeFileAtomic(join(meta, "packages.json"), `${JSON.stringify(packages, null, 2)}\n`);
      } else ctx.logger.warn({}, "the pkgset phase did not run: no packages.json, SBOM or package diff");

      const images = await collectImages(ctx);
      await writeFileAtomic(
        join(meta, "images.json"),
        `${JSON.stringify({ header: header("images"), payload: { compose: { id: composeId }, images } }, null, 2)}\n`,
      );

      const sboms: string[] = [];
      if (packages) {
        const ref = imageReference(definition);
        await mkdir(join(meta, "sbom"), { recursive: true });
        for (const [variant, byArch] of Object.entries(packages.payload.packages)) {
          for (const [arch, list] of Object.entries(byArch)) {
            const oci = images.find((i) => i.variant === variant && i.arch === arch && i.type === "oci");
            const doc = spdxDocument({
              composeId,
              image: { name: `${ref.name}-${variant}`, version: ref.tag, variant, arch, ...(oci?.digest ? { digest: oci.digest } : {}) },
              packages: list,
              distro: `debian-${definition.suite}`,
              created,
              toolVersion: TOOL_VERSION,
            });
            const file = join("sbom", `${variant}.${arch}.spdx.json`);
            await writeFileAtomic(join(meta, file), `${JSON.stringify(doc, null, 2)}\n`);
            sboms.push(`compose/metadata/${file}`);
          }
        }

        const oldDir = options.oldComposes ?? dirname(ctx.composeDir);
        const previous = await findPreviousCompose(oldDir, definition.name, composeId);
        if (previous) {
          const diff = diffPackages(await readPackagesMetadata(previous), packages);
          await writeFileAtomic(join(meta, "package-diff.json"), `${JSON.stringify(diff, null, 2)}\n`);
          await writeFileAtomic(join(meta, "package-diff.txt"), formatPackageDiff(diff));
          ctx.logger.info({ previous, ...diff.summary }, "package diff against the previous compose");
        } else ctx.logger.info({ oldComposes: oldDir }, "no previous compose of this name: no package diff");
      }

      const composeinfo = {
        header: header("composeinfo"),
        payload: {
          compose: {
            id: composeId,
            date: parsedId?.date,
            respin: parsedId?.n,
            type: definition.release.type,
            ...(options.label ? { label: options.label } : {}),
          },
          release: {
            name: definition.name,
            short: definition.release.short ?? definition.name,
            version: definition.version,
            type: definition.release.type,
          },
          suite: definition.suite,
          arches: definition.arches,
          baseline: definition.baseline,
          recommends: definition.recommends,
          tool: { name: "deb-bootc-compose", version: TOOL_VERSION },
          repositories:
            pkgset?.repositories.map((r) => ({ name: r.spec.name, url: r.spec.url, suite: r.suite, signers: r.signers, date: r.date })) ??
            [],
          ...(snapshot
            ? {
                snapshot: {
                  path: relative(ctx.composeDir, snapshot.path),
                  suites: snapshot.suites,
                  components: snapshot.components,
                  fingerprint: snapshot.fingerprint,
                },
              }
            : {}),
          variants: Object.fromEntries(
            Object.entries(definition.variants).map(([name, v]) => [
              name,
              {
                id: name,
                description: v.description,
                arches: definition.arches,
                packages: Object.fromEntries(definition.arches.map((a) => [a, pkgset?.sets[name]?.[a]?.length ?? 0])),
                images: images.filter((i) => i.variant === name).map((i) => i.path),
              },
            ]),
          ),
          sboms,
        },
      };
      await writeFileAtomic(join(meta, "composeinfo.json"), `${JSON.stringify(composeinfo, null, 2)}\n`);
      const known = new Map(images.flatMap((i) => (i.sha256 ? [[relative("compose", i.path), i.sha256] as const] : [])));
      const previous = await previousComposeDir(ctx.composeDir, definition.name);
      const count = await writeChecksums(ctx.composeDir, { known, previous, logger: ctx.logger });
      ctx.logger.info({ images: images.length, sboms: sboms.length, checksummed: count }, "metadata written");
    },
  };
}
