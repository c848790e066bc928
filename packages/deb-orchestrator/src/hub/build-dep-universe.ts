import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  type BinaryPackage,
  BinaryPackageIndex,
  binaryPackageFromParagraph,
  cachedIndex,
  InstallabilityChecker,
  iterateDeb822,
  readRepository,
} from "@debian-bootc/debian";
import type { BuildBaseResolver } from "./build-base.js";
import type { HubContext } from "./context.js";

/*
 * The binary packages a buildArch's build-dependencies are checked against before it is dispatched: its
 * build tag's published repository (which holds the builds the tag inherits too), the build environment's
 * base (deb-mock's profile suite, see build-base.ts) and the tag's external repositories, for one
 * architecture, i.e. what deb-mock's apt will see on the builder.
 *
 * External indexes are big (Debian trixie main: about 70,000 packages) and change rarely: each is read
 * through the index cache on disk (keyed by the hash its signed Release gives, so it is downloaded once per
 * Release) and kept parsed in memory; its Release is read again at most every `releaseTtlMs`. The
 * combined universe of a (tag repository, external indexes) state is kept with its checker (whose parsed
 * relations make later checks fast) until one of them changes.
 */

/** Debian's archive keyring: external repositories are verified with it, as the build environment verifies them. */
export const EXTERNAL_REPO_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

export interface DepCheckUniverse {
  checker: InstallabilityChecker;
  /** The indexes' names in the order searched ("tag demo", "debian/trixie"), for messages. */
  searched: string[];
}

interface ExternalRepo {
  name: string;
  url: string;
  suite: string;
  components: string;
  /** Default: Debian's archive keyring. */
  keyring?: string;
}

/** How messages name an external repository's component: "debian/trixie", "debian-trixie/contrib". */
function externalName(repo: ExternalRepo, component: string): string {
  const name = repo.name.includes(repo.suite) ? repo.name : `${repo.name}/${repo.suite}`;
  return component === "main" ? name : `${name}/${component}`;
}

interface ParsedIndex {
  key: string;
  packages: BinaryPackage[];
}

/** How many stanzas are parsed or indexed between two turns of the event loop (the hub keeps answering). */
const CHUNK = 2000;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function parseIndex(text: string, origin: string): Promise<BinaryPackage[]> {
  const packages: BinaryPackage[] = [];
  for (const paragraph of iterateDeb822(text)) {
    packages.push(binaryPackageFromParagraph(paragraph, origin));
    if (packages.length % CHUNK === 0) await yieldToLoop();
  }
  return packages;
}

export class BuildDepUniverses {
  /** Parsed external indexes by url|suite|component|arch, with the Release hash they were read at. */
  private readonly externals = new Map<string, ParsedIndex & { checkedAt: number }>();
  /** Parsed tag repositories by tag|arch, keyed by repository number. */
  private readonly tagIndexes = new Map<string, ParsedIndex>();
  /** Combined universes by tag|arch, keyed by the keys of their parts. */
  private readonly universes = new Map<string, { key: string; universe: DepCheckUniverse }>();
  /** One load per tag and architecture at a time. */
  private readonly loading = new Map<string, Promise<DepCheckUniverse | undefined>>();

  constructor(
    private readonly options: {
      dataDir: string;
      cacheDir: string;
      /** The build environment's base per build tag and architecture (none: only external repositories count). */
      base?: BuildBaseResolver;
      releaseTtlMs?: number;
      keyring?: string;
      now?: () => number;
    },
  ) {}

  /**
   * The universe of a build tag for an architecture: its repository, the build environment's base, its
   * external repositories (one already searched as the base is not searched twice). Undefined when neither
   * a base nor an external repository says what the environment holds: the check is left to apt then.
   */
  async forTag(ctx: HubContext, tag: { id: number; name: string }, arch: string, externals: readonly ExternalRepo[]) {
    const base = await this.options.base?.(tag.name, arch);
    const same = (a: ExternalRepo, b: ExternalRepo) => a.url.replace(/\/+$/, "") === b.url.replace(/\/+$/, "") && a.suite === b.suite;
    const repos = base ? [base, ...externals.filter((e) => !same(e, base))] : [...externals];
    if (repos.length === 0) return undefined;
    const slot = `${tag.name}|${arch}`;
    const pending = this.loading.get(slot);
    if (pending) return pending;
    const load = this.load(ctx, tag, arch, repos).finally(() => this.loading.delete(slot));
    this.loading.set(slot, load);
    return load;
  }

  private async load(ctx: HubContext, tag: { id: number; name: string }, arch: string, externals: readonly ExternalRepo[]) {
    const parts: Array<{ name: string; index: ParsedIndex }> = [];
    const own = await this.tagIndex(ctx, tag, arch);
    if (own) parts.push({ name: `tag ${tag.name}`, index: own });
    for (const repo of externals)
      for (const component of repo.components.split(" ").filter(Boolean))
        parts.push({ name: externalName(repo, component), index: await this.external(repo, component, arch) });
    const key = parts.map((p) => `${p.name}=${p.index.key}`).join(" ");
    const slot = `${tag.name}|${arch}`;
    const known = this.universes.get(slot);
    if (known?.key === key) return known.universe;
    const index = new BinaryPackageIndex(arch);
    let added = 0;
    for (const part of parts) {
      index.origins.push(part.name);
      for (const pkg of part.index.packages) {
        index.add(pkg.origin === part.name ? pkg : { ...pkg, origin: part.name });
        if (++added % (CHUNK * 5) === 0) await yieldToLoop();
      }
    }
    const universe = { checker: new InstallabilityChecker(index), searched: parts.map((p) => p.name) };
    this.universes.set(slot, { key, universe });
    return universe;
  }

  /** The tag's newest ready repository's Packages for `arch` (empty before the first one). */
  private async tagIndex(ctx: HubContext, tag: { id: number; name: string }, arch: string): Promise<ParsedIndex | undefined> {
    const ready = await ctx.db
      .selectFrom("repos")
      .select("number")
      .where("tag_id", "=", tag.id)
      .where("state", "=", "ready")
      .orderBy("number", "desc")
      .executeTakeFirst();
    if (!ready) return undefined;
    const slot = `${tag.name}|${arch}`;
    const key = `repo-${ready.number}`;
    const known = this.tagIndexes.get(slot);
    if (known?.key === key) return known;
    // the hub's own files: read as published, without a signature check
    const dir = join(this.options.dataDir, "repos", tag.name, String(ready.number));
    let packages: BinaryPackage[] = [];
    try {
      const reader = await readRepository(pathToFileURL(dir).href, { suite: tag.name, allowUnsigned: true });
      packages = await parseIndex((await reader.fetchIndex(`main/binary-${arch}/Packages`)).toString("utf8"), `tag ${tag.name}`);
    } catch (error) {
      // a publisher that writes no APT index (tests' listing publisher), or no package of this architecture
      ctx.logger.debug({ tag: tag.name, number: ready.number, err: (error as Error).message }, "no Packages index in the tag repository");
    }
    const parsed = { key, packages };
    this.tagIndexes.set(slot, parsed);
    return parsed;
  }

  /** An external repository's component index, verified with Debian's archive keyring, cached on disk and in memory. */
  private async external(repo: ExternalRepo, component: string, arch: string): Promise<ParsedIndex> {
    const slot = `${repo.url}|${repo.suite}|${component}|${arch}`;
    const now = (this.options.now ?? Date.now)();
    const known = this.externals.get(slot);
    if (known && now - known.checkedAt < (this.options.releaseTtlMs ?? 10 * 60_000)) return known;
    const reader = await readRepository(repo.url, {
      suite: repo.suite,
      keyring: { path: repo.keyring ?? this.options.keyring ?? EXTERNAL_REPO_KEYRING },
      verifier: "gpgv",
    });
    const path = `${component}/binary-${arch}/Packages`;
    const entry = reader.release.files.get(path) ?? reader.release.files.get(`${path}.xz`) ?? reader.release.files.get(`${path}.gz`);
    const key = entry?.sha256 ?? `unlisted-${now}`;
    if (known && known.key === key) {
      known.checkedAt = now;
      return known;
    }
    const { text } = await cachedIndex(reader, path, this.options.cacheDir);
    const parsed = { key, packages: await parseIndex(text, externalName(repo, component)), checkedAt: now };
    this.externals.set(slot, parsed);
    return parsed;
  }
}
