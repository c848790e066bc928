import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { isCodedError, type Logger, silentLogger } from "@debian-bootc/core";
import type { HubClient, TagView } from "@debian-bootc/deb-orchestrator";
import {
  type AptRepositoryReader,
  candidateFromParagraph,
  defaultMirror,
  type FieldSource,
  iterateDeb822,
  type KeyringSource,
  type PackageCandidate,
  type RepositoryFetch,
  readRepository,
} from "@debian-bootc/debian";
import { type ComposeDefinition, hostInputPath, type RepositoryDefinition } from "../definition.js";
import { composeError } from "../errors.js";
import { cachedPackages, type LoadedPackages } from "./parsed-index-cache.js";

/** Debian's archive keyring, what `type: debian` repositories are verified against. */
export const DEBIAN_ARCHIVE_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

/** One APT source the package set is resolved from: a URL, its suites and components, and its key. */
export interface RepositorySpec {
  name: string;
  url: string;
  suites: string[];
  components: string[];
  keyring: KeyringSource;
  /** How its files are fetched (default: the global fetch); a deb-orchestrator hub's with the compose's token. */
  fetch?: RepositoryFetch;
}

/** Where an index entry came from. One object per (repository, suite, component), shared by its packages. */
export interface PackageOrigin {
  repository: string;
  url: string;
  suite: string;
  component: string;
  /** How its pool files are fetched, when not with the global fetch (the repository's). */
  fetch?: RepositoryFetch;
}

/** A package from a Packages index: what resolution, download and metadata need of it. */
export interface IndexPackage extends PackageCandidate {
  readonly source: string;
  readonly sourceVersion: string;
  readonly essential: boolean;
  readonly priority: string;
  readonly preDepends?: string;
  readonly depends?: string;
  readonly recommends?: string;
  readonly conflicts?: string;
  readonly breaks?: string;
  readonly filename: string;
  readonly size: number;
  readonly sha256: string;
  /** MD5sum, when the index gives a well-formed one (the snapshot's Packages lists it without reading the .deb). */
  readonly md5?: string;
  readonly origin: PackageOrigin;
}

/**
 * A deb-orchestrator tag's repository as a concrete source: the tag's newest numbered (immutable)
 * regeneration, verified with the key the hub publishes (or the definition's key file).
 */
export type OrchestratorRepositoryResolver = (
  repo: Extract<RepositoryDefinition, { type: "orchestrator" }>,
  field: string,
) => Promise<RepositorySpec>;

/** The definition's repositories as concrete sources (the host's mirror and Debian's keyring by default). */
export async function repositorySpecs(
  definition: ComposeDefinition,
  baseDir: string,
  mirror?: string,
  orchestrator?: OrchestratorRepositoryResolver,
): Promise<RepositorySpec[]> {
  const specs: RepositorySpec[] = [];
  for (const [i, repo] of definition.repositories.entries()) {
    if (repo.type === "debian") {
      specs.push({
        name: repo.name,
        url: repo.mirror ?? mirror ?? (await defaultMirror()),
        suites: repo.suites ?? [definition.suite, `${definition.suite}-updates`],
        components: repo.components,
        keyring: { path: DEBIAN_ARCHIVE_KEYRING },
      });
    } else if (repo.type === "apt") {
      specs.push({
        name: repo.name,
        url: repo.uri,
        suites: repo.suites,
        components: repo.components,
        keyring: { path: await hostInputPath(definition, baseDir, `repositories[${i}].key`, repo.key) },
      });
    } else if (orchestrator) {
      specs.push(await orchestrator(repo, `repositories[${i}]`));
    } else {
      throw composeError("PKGSET_REPOSITORY_UNSUPPORTED", `repositories[${i}]: deb-orchestrator tag ${repo.tag}: no hub to read it from`, {
        hint: "give the repository a hub: URL, or run the compose with the build phase's orchestrator connection",
      });
    }
  }
  return specs;
}

/**
 * Read a tag's repository description from a hub, with the client's token (a hub may refuse anonymous
 * reads): the newest numbered regeneration and the hub's key; its files are fetched through the client too.
 */
export async function orchestratorRepositorySpec(
  client: HubClient,
  repo: { tag: string; name?: string; key?: string },
  baseDir: string,
  field: string,
): Promise<RepositorySpec> {
  const hub = client.url;
  const fail = (message: string, cause?: unknown) =>
    composeError("PKGSET_REPOSITORY_FAILED", `${field}: deb-orchestrator tag ${repo.tag} at ${hub}: ${message}`, {
      ...(cause === undefined ? {} : { cause }),
      hint: "check the hub URL and the tag (deb-orchestrator list-tags)",
      details: { hub, tag: repo.tag },
    });
  let tag: TagView | undefined;
  try {
    tag = await client.findTag(repo.tag);
  } catch (error) {
    throw fail((error as Error).message, error);
  }
  if (!tag) throw fail("no such tag");
  if (!tag.repo) throw fail("the tag has no repository yet (nothing built or tagged, or its newRepo has not run)");
  let key: string;
  if (repo.key !== undefined) key = await readFile(resolve(baseDir, repo.key), "utf8");
  else {
    key = await client.repoKey().catch((error: unknown) => {
      throw isCodedError(error) && error.category === "not-found"
        ? fail("the hub publishes no repository key (/repos/key.asc)", error)
        : fail(`cannot fetch the hub's key: ${(error as Error).message}`, error);
    });
  }
  return {
    name: repo.name ?? `orchestrator-${repo.tag}`,
    url: `${hub}/repos/${repo.tag}/${tag.repo.number}`,
    suites: [repo.tag],
    components: ["main"],
    keyring: key,
    fetch: client.repoFetch,
  };
}

/** A Packages stanza as an IndexPackage; undefined for stanzas without a usable Filename/SHA256. */
export function indexPackageFromParagraph(p: FieldSource, origin: PackageOrigin): IndexPackage | undefined {
  const filename = p.get("Filename");
  const sha256 = p.get("SHA256");
  const md5 = p.get("MD5sum")?.trim().toLowerCase();
  const size = Number(p.get("Size"));
  if (!filename || !sha256 || !Number.isFinite(size)) return undefined;
  const candidate = candidateFromParagraph(p);
  const sourceField = p.get("Source")?.trim();
  let source = candidate.name;
  let sourceVersion = candidate.version;
  if (sourceField) {
    const m = /^(\S+)(?:\s*\((\S+)\))?$/.exec(sourceField);
    if (m) {
      source = m[1]!;
      if (m[2]) sourceVersion = m[2];
    }
  }
  const field = (name: string) => {
    const v = p.get(name);
    return v === undefined || v.trim() === "" ? undefined : v;
  };
  const optional = <K extends string>(key: K, value: string | undefined) =>
    value === undefined ? {} : ({ [key]: value } as Record<K, string>);
  return {
    ...candidate,
    source,
    sourceVersion,
    essential: p.get("Essential") === "yes",
    priority: p.get("Priority") ?? "optional",
    ...optional("preDepends", field("Pre-Depends")),
    ...optional("depends", field("Depends")),
    ...optional("recommends", field("Recommends")),
    ...optional("conflicts", field("Conflicts")),
    ...optional("breaks", field("Breaks")),
    filename,
    size,
    sha256: sha256.toLowerCase(),
    ...(md5 && /^[0-9a-f]{32}$/.test(md5) ? { md5 } : {}),
    origin,
  };
}

/** Parse a whole Packages index. */
export function parsePackagesIndex(text: string, origin: PackageOrigin, source = "Packages"): IndexPackage[] {
  const out: IndexPackage[] = [];
  for (const p of iterateDeb822(text, { source })) {
    const pkg = indexPackageFromParagraph(p, origin);
    if (pkg) out.push(pkg);
  }
  return out;
}

export interface IndexLoadEvent {
  repository: string;
  suite: string;
  component: string;
  arch: string;
  cached: boolean;
  /** Its packages were parsed by an earlier load (parsed-index-cache.ts). */
  parsedCached: boolean;
  packages: number;
  bytes: number;
}

export interface LoadIndexesOptions {
  repositories: readonly RepositorySpec[];
  arches: readonly string[];
  /** Shared cache directory; indexes go to <cacheDir>/indexes/<sha256>. */
  cacheDir: string;
  logger?: Logger;
  signal?: AbortSignal;
  onIndex?: (event: IndexLoadEvent) => void;
}

export interface LoadedRepository {
  spec: RepositorySpec;
  suite: string;
  /** Fingerprints of the keys that signed its InRelease. */
  signers: string[];
  /** Release Date, when given. */
  date?: string;
}

export interface LoadedIndexes {
  /** Every package per target architecture (arch:all ones in each). */
  byArch: Map<string, IndexPackage[]>;
  repositories: LoadedRepository[];
}

/**
 * Read every repository's InRelease (verified against its keyring) and its Packages indexes for the
 * target architectures, through the shared cache. A missing repository, suite, component or
 * architecture is an error naming it.
 */
export async function loadIndexes(options: LoadIndexesOptions): Promise<LoadedIndexes> {
  const logger = options.logger ?? silentLogger;
  const byArch = new Map<string, IndexPackage[]>(options.arches.map((a) => [a, []]));
  const repositories: LoadedRepository[] = [];
  for (const spec of options.repositories) {
    for (const suite of spec.suites) {
      options.signal?.throwIfAborted();
      let reader: AptRepositoryReader;
      try {
        reader = await readRepository(spec.url, { suite, keyring: spec.keyring, ...(spec.fetch ? { fetch: spec.fetch } : {}) });
      } catch (error) {
        throw composeError("PKGSET_REPOSITORY_FAILED", `repository ${spec.name} (${spec.url} ${suite}): ${(error as Error).message}`, {
          cause: error,
          hint: "check the repository's URL, suite and key in the definition",
          details: { repository: spec.name, url: spec.url, suite },
        });
      }
      repositories.push({
        spec,
        suite,
        signers: reader.signers,
        ...(reader.release.date === undefined ? {} : { date: reader.release.date.toISOString() }),
      });
      logger.info({ repository: spec.name, url: spec.url, suite, signers: reader.signers }, "repository verified");
      for (const component of spec.components) {
        const origin: PackageOrigin = {
          repository: spec.name,
          url: reader.url,
          suite,
          component,
          ...(spec.fetch ? { fetch: spec.fetch } : {}),
        };
        for (const arch of options.arches) {
          const path = `${component}/binary-${arch}/Packages`;
          if (![path, `${path}.xz`, `${path}.gz`].some((p) => reader.release.files.has(p))) {
            throw composeError("PKGSET_REPOSITORY_FAILED", `repository ${spec.name} (${spec.url} ${suite}) has no ${path} index`, {
              hint: `check the component (${component}) and architecture (${arch})`,
              details: { repository: spec.name, suite, component, arch },
            });
          }
          let loaded: LoadedPackages;
          try {
            loaded = await cachedPackages(reader, path, options.cacheDir, origin);
          } catch (error) {
            throw composeError(
              "PKGSET_REPOSITORY_FAILED",
              `repository ${spec.name} (${spec.url} ${suite}): ${path}: ${(error as Error).message}`,
              {
                cause: error,
              },
            );
          }
          const { packages } = loaded;
          byArch.get(arch)!.push(...packages);
          const event = {
            repository: spec.name,
            suite,
            component,
            arch,
            cached: loaded.cached,
            parsedCached: loaded.parsedCached,
            packages: packages.length,
            bytes: loaded.bytes,
          };
          logger.info(event, "index loaded");
          options.onIndex?.(event);
        }
      }
    }
  }
  return { byArch, repositories };
}
