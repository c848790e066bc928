import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, copyFile, lstat, lutimes, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { type Logger, run, silentLogger } from "@debian-bootc/core";
import {
  cachedIndex,
  compareVersions,
  dscFileName,
  dscFilePaths,
  fetchRepositoryFile,
  hashFileWith,
  iterateDeb822,
  type Paragraph,
  parseDsc,
  readChangelogEntry,
  readDsc,
  readRepository,
  verifyDscFiles,
} from "@debian-bootc/debian";
import type { ComposeDefinition } from "../definition.js";
import { composeError } from "../errors.js";
import { defaultCacheDir } from "../pkgset/cache-dir.js";
import { DEBIAN_ARCHIVE_KEYRING } from "../pkgset/repository-index.js";
import type { PreparedFile } from "./source-check.js";

/**
 * The sources of a definition's build section, in two steps: identify (name and version, cheaply: a
 * changelog, a .dsc, one pass over the archive's Sources index) so that a build the orchestrator has
 * already can be reused without fetching anything, then materialize (a .dsc and its files on disk) only
 * for what must be built.
 */

export type SourceSpec = NonNullable<ComposeDefinition["build"]>["sources"][number];

export interface IdentifiedSource {
  index: number;
  kind: "path" | "dsc" | "archive";
  /** What the definition said: the tree, the .dsc path or URL, or name[=version]. */
  ref: string;
  name: string;
  version: string;
  /** archive: the Sources stanza; dsc URL: the .dsc text; path: the tree. */
  detail: { tree?: string; dscText?: string; dscUrl?: string; dscPath?: string; stanza?: Paragraph; mirror?: string };
}

export interface MaterializedSource {
  /** The .dsc, first, then every file it lists, all in one directory. */
  files: string[];
  dsc: string;
}

export interface SourceContext {
  definition: ComposeDefinition;
  baseDir: string;
  /** Mirror for archive sources (default: the definition's first `type: debian` repository's, else the host's). */
  mirror: string;
  /** Scratch space (work/build under the compose). */
  workDir: string;
  /** Shared cache (the compose's --cache-dir; default defaultCacheDir()): the archive's Sources index is kept there. */
  cacheDir?: string;
  logger?: Logger;
  signal?: AbortSignal;
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * The stanzas of the wanted source names in the suite's Sources indexes (all components), one pass. The
 * index comes through the compose's cache (debian's cachedIndex, keyed by the SHA256 the verified Release
 * gives), and only the paragraphs that contain a wanted name are parsed: a no-op recompose neither
 * downloads nor parses trixie's 45 MB of Sources again.
 */
async function archiveStanzas(ctx: SourceContext, names: Set<string>): Promise<Map<string, Paragraph[]>> {
  const found = new Map<string, Paragraph[]>();
  if (names.size === 0) return found;
  const debian = ctx.definition.repositories.find((r) => r.type === "debian");
  const components = debian?.type === "debian" ? debian.components : ["main"];
  let reader: Awaited<ReturnType<typeof readRepository>>;
  try {
    reader = await readRepository(ctx.mirror, { suite: ctx.definition.suite, keyring: { path: DEBIAN_ARCHIVE_KEYRING } });
  } catch (error) {
    throw composeError("BUILD_SOURCE_FAILED", `the archive ${ctx.mirror} ${ctx.definition.suite}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  for (const component of components) {
    const path = `${component}/source/Sources`;
    if (![path, `${path}.xz`, `${path}.gz`].some((p) => reader.release.files.has(p))) continue;
    const { text } = await cachedIndex(reader, path, ctx.cacheDir ?? (await defaultCacheDir()));
    for (const stanza of stanzasNaming(text, names, `${reader.url}/dists/${reader.suite}/${path}`)) {
      const name = stanza.get("Package");
      if (name === undefined || !names.has(name)) continue;
      const list = found.get(name) ?? [];
      list.push(stanza);
      found.set(name, list);
    }
  }
  return found;
}

/**
 * The paragraphs of an index that contain one of `names` anywhere in their text, parsed (the caller
 * checks the Package field). An empty line always ends a deb822 paragraph, so cutting at "\n\n" never
 * splits one; a stanza of a wanted source necessarily contains its name.
 */
export function* stanzasNaming(text: string, names: ReadonlySet<string>, source: string): Generator<Paragraph> {
  for (let start = 0; start < text.length; ) {
    const cut = text.indexOf("\n\n", start);
    const end = cut === -1 ? text.length : cut + 1;
    const chunk = text.slice(start, end);
    start = end + (cut === -1 ? 0 : 1);
    for (const name of names)
      if (chunk.includes(name)) {
        yield* iterateDeb822(chunk, { source });
        break;
      }
  }
}

/** Name and version of every source of the build section, without fetching any source file. */
export async function identifySources(ctx: SourceContext, specs: readonly SourceSpec[]): Promise<IdentifiedSource[]> {
  const archiveNames = new Set(specs.filter((s) => s.path === undefined && s.dsc === undefined).map((s) => s.name!));
  const stanzas = await archiveStanzas(ctx, archiveNames);
  const out: IdentifiedSource[] = [];
  for (const [index, spec] of specs.entries()) {
    const field = `build.sources[${index}]`;
    let identified: IdentifiedSource;
    if (spec.path !== undefined) {
      const tree = resolve(ctx.baseDir, spec.path);
      let entry: Awaited<ReturnType<typeof readChangelogEntry>>;
      try {
        entry = await readChangelogEntry(join(tree, "debian", "changelog"));
      } catch (error) {
        throw composeError("BUILD_SOURCE_FAILED", `${field}.path: ${tree}: no readable debian/changelog: ${(error as Error).message}`, {
          cause: error,
          hint: "a source tree needs a debian/ folder (changelog, control, rules, source/format)",
        });
      }
      identified = { index, kind: "path", ref: spec.path, name: entry.source, version: entry.version, detail: { tree } };
    } else if (spec.dsc !== undefined) {
      if (/^https?:\/\//.test(spec.dsc)) {
        const data = await fetchRepositoryFile(spec.dsc);
        if (data === undefined) throw composeError("BUILD_SOURCE_FAILED", `${field}.dsc: ${spec.dsc} was not found (HTTP 404)`);
        const text = data.toString("utf8");
        const dsc = parseDsc(text, spec.dsc);
        identified = {
          index,
          kind: "dsc",
          ref: spec.dsc,
          name: dsc.source,
          version: dsc.version,
          detail: { dscText: text, dscUrl: spec.dsc },
        };
      } else {
        const path = resolve(ctx.baseDir, spec.dsc);
        const dsc = await readDsc(path);
        identified = { index, kind: "dsc", ref: spec.dsc, name: dsc.source, version: dsc.version, detail: { dscPath: path } };
      }
    } else {
      const name = spec.name!;
      const candidates = stanzas.get(name) ?? [];
      const versions = candidates.map((s) => s.get("Version") ?? "").filter(Boolean);
      if (candidates.length === 0)
        throw composeError(
          "BUILD_SOURCE_FAILED",
          `${field}: no source package ${name} in ${ctx.definition.suite}'s Sources on ${ctx.mirror}`,
          {
            hint: "check the name: it is the source package's, which may differ from its binary packages' names",
          },
        );
      let stanza: Paragraph | undefined;
      if (spec.version !== undefined) {
        stanza = candidates.find((s) => s.get("Version") === spec.version);
        if (!stanza)
          throw composeError(
            "BUILD_SOURCE_FAILED",
            `${field}: ${name} ${spec.version} is not in ${ctx.definition.suite}'s Sources; it has ${versions.join(", ")}`,
          );
      } else {
        stanza = candidates.reduce((best, s) => (compareVersions(s.get("Version")!, best.get("Version")!) > 0 ? s : best));
      }
      identified = {
        index,
        kind: "archive",
        ref: spec.version ? `${name}=${spec.version}` : name,
        name,
        version: stanza.get("Version")!,
        detail: { stanza, mirror: ctx.mirror },
      };
    }
    if (spec.name !== undefined && spec.name !== identified.name)
      throw composeError("BUILD_SOURCE_FAILED", `${field}: the source is ${identified.name}, not ${spec.name} as the definition says`);
    out.push(identified);
  }
  return out;
}

/** Files listed in a Sources stanza or .dsc: name, size and SHA256 from Checksums-Sha256. */
function listedSha256(paragraph: Paragraph, where: string): { name: string; size: number; sha256: string }[] {
  const files = paragraph
    .lines("Checksums-Sha256")
    .map((line) => line.trim().split(/\s+/))
    .filter((parts) => parts.length === 3)
    .map(([sha, size, name]) => ({ name: name!, size: Number(size), sha256: sha!.toLowerCase() }));
  if (files.length === 0) throw composeError("BUILD_SOURCE_FAILED", `${where}: no Checksums-Sha256 list`);
  for (const f of files)
    if (f.name.includes("/") || f.name.startsWith(".")) throw composeError("BUILD_SOURCE_FAILED", `${where}: bad file name ${f.name}`);
  return files;
}

async function download(url: string, expected: { size: number; sha256: string }, path: string, what: string): Promise<void> {
  const data = await fetchRepositoryFile(url);
  if (data === undefined)
    throw composeError("BUILD_SOURCE_FAILED", `${what}: ${url} is missing on the server (HTTP 404)`, {
      hint: "the mirror lacks this source file; pick another version or source, or give a .dsc from elsewhere",
    });
  if (data.length !== expected.size || sha256(data) !== expected.sha256)
    throw composeError(
      "BUILD_SOURCE_FAILED",
      `${what}: ${url} has size ${data.length} and SHA256 ${sha256(data)}, expected ${expected.size} and ${expected.sha256}`,
    );
  await writeFile(path, data);
}

/**
 * Make a copied tree pack the same wherever and whenever it was checked out: every modification time
 * set to the changelog entry's date, files 0644 or 0755 (executable when any execute bit was set, as git
 * keeps them), folders 0755. dpkg-source adds the rest (members sorted by name, owner and group 0), so an
 * unchanged tree gives the same source package byte for byte, and a changed one a different one.
 */
async function normalizeTree(root: string, timestamp: number): Promise<void> {
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        const { mode } = await lstat(path);
        await chmod(path, mode & 0o111 ? 0o755 : 0o644);
      }
      if (entry.isDirectory()) await chmod(path, 0o755);
      await lutimes(path, timestamp, timestamp);
    }
  };
  await walk(root);
  await chmod(root, 0o755);
  await lutimes(root, timestamp, timestamp);
}

/** Put the source package on disk (a fresh directory under the work dir) and return its files. */
export async function materializeSource(ctx: SourceContext, source: IdentifiedSource): Promise<MaterializedSource> {
  const logger = ctx.logger ?? silentLogger;
  const dir = join(ctx.workDir, "sources", `${source.index}-${source.name}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const what = `build.sources[${source.index}] (${source.name} ${source.version})`;
  if (source.kind === "path") {
    const tree = source.detail.tree!;
    const upstream = source.version.replace(/^[0-9]+:/, "").replace(/-[^-]*$/, "");
    const unpacked = join(dir, `${source.name}-${upstream}`);
    await run("cp", ["-a", "--", tree, unpacked], { signal: ctx.signal, logger });
    const entry = await readChangelogEntry(join(tree, "debian", "changelog"));
    await normalizeTree(unpacked, entry.timestamp);
    // a non-native format needs its orig tarball(s) from beside the tree
    for (const f of await readdir(dirname(tree)))
      if (f.startsWith(`${source.name}_${upstream}.orig`)) await copyFile(join(dirname(tree), f), join(dir, f));
    await run("dpkg-source", ["-b", basename(unpacked)], {
      cwd: dir,
      env: { ...process.env, SOURCE_DATE_EPOCH: String(entry.timestamp) },
      signal: ctx.signal,
      logger,
      debianPackage: "dpkg-dev",
    });
    const dsc = join(dir, dscFileName(source.name, source.version));
    await verifyDscFiles(dsc);
    return { dsc, files: await dscFilePaths(dsc) };
  }
  if (source.kind === "dsc" && source.detail.dscPath) {
    const control = await verifyDscFiles(source.detail.dscPath);
    return { dsc: source.detail.dscPath, files: await dscFilePaths(source.detail.dscPath, control) };
  }
  if (source.kind === "dsc") {
    const url = source.detail.dscUrl!;
    const control = parseDsc(source.detail.dscText!, url);
    const dsc = join(dir, basename(new URL(url).pathname));
    await writeFile(dsc, source.detail.dscText!);
    for (const f of listedSha256(control.paragraph, url)) await download(new URL(f.name, url).href, f, join(dir, f.name), what);
    await verifyDscFiles(dsc);
    return { dsc, files: await dscFilePaths(dsc) };
  }
  const stanza = source.detail.stanza!;
  const directory = stanza.get("Directory");
  if (!directory || directory.includes(".."))
    throw composeError("BUILD_SOURCE_FAILED", `${what}: the Sources stanza has no usable Directory`);
  const base = `${source.detail.mirror!.replace(/\/+$/, "")}/${directory}`;
  const files = listedSha256(stanza, `${what} in Sources`);
  for (const f of files) {
    ctx.signal?.throwIfAborted();
    await download(`${base}/${f.name}`, f, join(dir, f.name), what);
  }
  const dscName = files.find((f) => f.name.endsWith(".dsc"))?.name;
  if (!dscName) throw composeError("BUILD_SOURCE_FAILED", `${what}: the Sources stanza lists no .dsc`);
  const dsc = join(dir, dscName);
  await verifyDscFiles(dsc);
  logger.info({ source: source.name, version: source.version, files: files.length }, "source fetched from the archive");
  return { dsc, files: await dscFilePaths(dsc) };
}

/**
 * The files of a source package as the hub would record them (name, size, SHA256), without uploading:
 * a tree is packed (the result is kept for the submission), a local .dsc's files are read, a remote
 * .dsc's are taken from its Checksums-Sha256 list. undefined for an archive source (the archive gives
 * one content per name and version).
 */
export async function preparedSourceFiles(
  ctx: SourceContext,
  source: IdentifiedSource,
): Promise<{ files: PreparedFile[]; materialized?: MaterializedSource } | undefined> {
  if (source.kind === "archive") return undefined;
  if (source.kind === "dsc" && source.detail.dscText !== undefined)
    return { files: listedSha256(parseDsc(source.detail.dscText, source.ref).paragraph, source.ref) };
  const materialized = await materializeSource(ctx, source);
  const files: PreparedFile[] = [];
  for (const path of materialized.files) {
    const { sha256, size } = await hashFileWith(path, ["sha256"]);
    files.push({ name: basename(path), sha256, size, read: () => createReadStream(path) });
  }
  return { files, materialized };
}
