import { randomBytes } from "node:crypto";
import { copyFile, link, lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, sep } from "node:path";
import { gzipSync } from "node:zlib";
import { isCodedError, type Logger, run } from "@debian-bootc/core";
import { hashBuffer, hashFile } from "./checksums.js";
import { readDebStructure, readDebWith } from "./deb-file.js";
import { Paragraph, parseDeb822Single } from "./deb822.js";
import { debianError } from "./errors.js";
import { checkBinaryIdentity, checkSourceName, checkVersion } from "./package-fields.js";
import { packagesStanza, type SourceFileInfo, sourcesStanza } from "./packages-index.js";
import { formatRelease, parseRelease, type ReleaseFileEntry, type ReleaseHash, type ReleaseInfo } from "./release-file.js";
import { stripSignature } from "./signed-message.js";
import type { Signer } from "./signing.js";
import { compareVersions } from "./version.js";

/**
 * Writing an APT repository: pool layout, Packages/Sources indexes (plain, .gz, .xz), per-directory
 * Release files, the suite's Release with MD5Sum/SHA256 (SHA1/SHA512 optional), by-hash copies, and
 * InRelease + Release.gpg from a Signer.
 *
 * Layout and atomicity: the pool (pool/<component>/<prefix>/<source>/) is shared and append-only; a file
 * already there must have the same content. Each suite's dists/<suite> is a symbolic link to a generation
 * directory dists/.<suite>.gen-<id>; a write builds a complete new generation beside it and switches the
 * link with one rename(2), so a reader sees either the old or the new Release with all its indexes, never a
 * half-written one. The previous generation is kept (clients that read the old InRelease can still fetch its
 * indexes) and its current indexes are carried into the new generation's by-hash directories; older
 * generations are removed. Writers of the same suite must not run concurrently (callers serialise them).
 *
 * Output is deterministic for the same inputs and `date` (signatures aside: OpenPGP signatures carry
 * their creation time and, with openpgp.js, a random salt).
 */

export interface RepositoryBinary {
  /** Path of a .deb. */
  deb: string;
  /**
   * Its size and digests when the caller has just verified the file against them (a content-addressed
   * cache checked on use): it is then not read whole again, only its size is compared. A repository that
   * lists SHA1 or SHA512 hashes it anyway.
   */
  digests?: { size: number; md5: string; sha256: string };
  /** Component (default: the first of the repository's components). */
  component?: string;
}

export interface RepositorySource {
  /** Path of a .dsc; the files it lists must be beside it. */
  dsc: string;
  component?: string;
}

export interface WriteRepositoryOptions {
  /** Repository root: pool/ and dists/ are created below it. */
  root: string;
  suite: string;
  codename?: string;
  origin?: string;
  label?: string;
  version?: string;
  description?: string;
  /** Binary architectures (amd64, arm64, ...): one binary-<arch> index each; arch:all packages go into all of them. */
  architectures: string[];
  /** Components, default ["main"]; components named by packages must be listed. */
  components?: string[];
  debs?: Array<string | RepositoryBinary>;
  sources?: Array<string | RepositorySource>;
  /** Write source/Sources indexes even without source packages (default: only when sources are given). */
  sourceIndexes?: boolean;
  /** Release Date; default now. Pass a fixed date for reproducible output. */
  date?: Date;
  /** Valid-Until = date + this many seconds (clients refuse the Release after that). */
  validForSeconds?: number;
  /**
   * Hard-link the .debs and source files into the pool instead of copying them (a copy across filesystems),
   * for callers whose inputs are never written in place, such as a content-addressed cache (default false:
   * a copy, so the repository does not change when an input file is rewritten later).
   */
  poolLinks?: boolean;
  /** Write by-hash copies and `Acquire-By-Hash: yes` (default true). */
  acquireByHash?: boolean;
  /** Also write SHA1 and SHA512 in Packages stanzas, Sources and the Release (apt-ftparchive's default). */
  sha1?: boolean;
  sha512?: boolean;
  /** Compressed variants of every index besides the uncompressed one (default gzip and xz). */
  compressions?: Array<"gzip" | "xz">;
  /** Sign the Release: InRelease and Release.gpg. Without a signer the repository is unsigned. */
  signer?: Signer;
  /** Put the signer's fingerprint in a `Signed-By` field of the Release (default false). */
  signedByField?: boolean;
  logger?: Logger;
}

export interface WrittenRepository {
  root: string;
  suite: string;
  /** dists/<suite> (the symbolic link). */
  distDir: string;
  /** The generation directory it points to. */
  generationDir: string;
  /** Text of the Release file. */
  release: string;
  /** Index files listed in the Release. */
  files: ReleaseFileEntry[];
  /** Packages stanzas written (each .deb counts once, whatever the number of architectures). */
  packages: number;
  sources: number;
  /** Fingerprint of the signing key, when signed. */
  fingerprint?: string;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9.+~_-]*$/;

function checkName(what: string, name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw debianError(
      "REPO_INVALID",
      `invalid ${what} ${JSON.stringify(name)} (letters, digits and . + ~ _ - only, not starting with a symbol)`,
    );
  }
}

/** The pool subdirectory of a source package: its first letter, or `libX` for lib* sources, as in the archive. */
export function poolPrefix(source: string): string {
  return source.startsWith("lib") && source.length > 3 ? source.slice(0, 4) : source.slice(0, 1);
}

/** Source package name of a binary package's control: `Source` without a version, else `Package`. */
export function sourceOfBinary(control: Paragraph): string {
  const source = control.get("Source");
  if (source !== undefined && source.trim() !== "") return source.trim().split(/\s+/)[0]!;
  return control.require("Package");
}

function withoutEpoch(version: string): string {
  const colon = version.indexOf(":");
  return colon === -1 ? version : version.slice(colon + 1);
}

interface BinaryEntry {
  component: string;
  control: Paragraph;
  poolPath: string;
  /** SHA1 and SHA512 only when the repository writes them. */
  digests: { size: number; md5: string; sha1?: string; sha256: string; sha512?: string };
  sourcePath: string;
}

interface SourceEntry {
  component: string;
  fields: Paragraph;
  directory: string;
  dsc: SourceFileInfo & { path: string };
  files: Array<SourceFileInfo & { path: string }>;
}

/**
 * Copy a file into the pool (or hard-link it, with `links`, falling back to a copy across filesystems) unless it
 * is there already; a different file under the same name is refused.
 */
async function addToPool(root: string, poolPath: string, from: string, sha256: string, links: boolean, logger?: Logger): Promise<void> {
  const target = join(root, poolPath);
  // the last line of defence: whatever the fields were, nothing is written outside the pool
  const inPool = relative(join(root, "pool"), target);
  if (inPool === "" || inPool.split(sep)[0] === ".." || isAbsolute(inPool))
    throw debianError("REPO_INVALID", `refusing pool path ${JSON.stringify(poolPath)}: it leads outside the repository's pool`);
  try {
    const existing = await hashFile(target);
    if (existing.sha256 !== sha256) {
      throw debianError(
        "REPO_POOL_CONFLICT",
        `${poolPath} is already in the pool with different content (SHA256 ${existing.sha256}, new file ${from} has ${sha256})`,
        {
          hint: "a version, once published, cannot change: give the package a new version",
          details: { path: poolPath },
        },
      );
    }
    return;
  } catch (error) {
    if (isCodedError(error)) throw error;
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(dirname(target), { recursive: true });
  const temp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    await linkOrCopy(from, temp, links);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  logger?.debug({ path: poolPath }, "added to pool");
}

async function linkOrCopy(from: string, to: string, links: boolean): Promise<void> {
  if (links) {
    try {
      return await link(from, to);
    } catch (error) {
      // another filesystem, or links refused there: a copy
      if (!["EXDEV", "EPERM", "EMLINK"].includes((error as NodeJS.ErrnoException).code ?? "")) throw error;
    }
  }
  await copyFile(from, to);
}

/** A .deb's structure and the digests the repository lists: the caller's when given, else read. */
async function debInfo(
  deb: string,
  given: RepositoryBinary["digests"],
  options: WriteRepositoryOptions,
): Promise<Awaited<ReturnType<typeof readDebStructure>> & { size: number; md5: string; sha256: string; sha1?: string; sha512?: string }> {
  if (given && !options.sha1 && !options.sha512) {
    const [structure, { size }] = await Promise.all([readDebStructure(deb), stat(deb)]);
    if (size !== given.size)
      throw debianError("REPO_INVALID", `${deb}: ${size} bytes, but its given digests are of ${given.size} bytes`, {
        details: { path: deb },
      });
    return { ...structure, ...given };
  }
  return readDebWith(deb, [
    "md5",
    "sha256",
    ...(options.sha1 ? (["sha1"] as const) : []),
    ...(options.sha512 ? (["sha512"] as const) : []),
  ]);
}

async function readBinaries(options: WriteRepositoryOptions, components: string[]): Promise<BinaryEntry[]> {
  const entries: BinaryEntry[] = [];
  for (const item of options.debs ?? []) {
    const { deb, component = components[0]! } = typeof item === "string" ? { deb: item } : item;
    if (!components.includes(component)) {
      throw debianError("REPO_INVALID", `${deb}: component ${component} is not one of the repository's (${components.join(", ")})`);
    }
    const info = await debInfo(deb, typeof item === "string" ? undefined : item.digests, options);
    const control = info.control;
    // the pool path is made of these fields: checked before any path is built (a Version of
    // `1/../../x` would otherwise write outside the repository)
    const {
      package: name,
      version,
      architecture: arch,
      source,
    } = checkBinaryIdentity(
      {
        package: control.require("Package", deb),
        version: control.require("Version", deb),
        architecture: control.require("Architecture", deb),
        source: sourceOfBinary(control),
      },
      deb,
    );
    if (control.get("Package-Type") === "udeb") throw debianError("REPO_INVALID", `${deb}: udebs are not supported`);
    if (arch !== "all" && !options.architectures.includes(arch)) {
      throw debianError(
        "REPO_INVALID",
        `${deb}: architecture ${arch} is not one of the repository's (${options.architectures.join(", ")})`,
        {
          hint: "add it to the repository's architectures or leave the package out",
        },
      );
    }
    const poolPath = `pool/${component}/${poolPrefix(source)}/${source}/${name}_${withoutEpoch(version)}_${arch}.deb`;
    entries.push({
      component,
      control,
      poolPath,
      digests: {
        size: info.size,
        md5: info.md5,
        sha256: info.sha256,
        ...(info.sha1 ? { sha1: info.sha1 } : {}),
        ...(info.sha512 ? { sha512: info.sha512 } : {}),
      },
      sourcePath: deb,
    });
  }
  return entries;
}

function dscFileList(fields: Paragraph): Map<string, { size: number; md5?: string; sha1?: string; sha256?: string; sha512?: string }> {
  const files = new Map<string, { size: number; md5?: string; sha1?: string; sha256?: string; sha512?: string }>();
  const add = (field: string, key: "md5" | "sha1" | "sha256" | "sha512") => {
    for (const line of fields.lines(field)) {
      const [digest, size, name] = line.split(/\s+/);
      if (digest === undefined || size === undefined || name === undefined || !/^\d+$/.test(size)) {
        throw debianError("CONTROL_FILE_INVALID", `.dsc ${field}: malformed line ${JSON.stringify(line)}`);
      }
      const entry = files.get(name) ?? { size: Number(size) };
      entry[key] = digest.toLowerCase();
      files.set(name, entry);
    }
  };
  add("Files", "md5");
  add("Checksums-Sha1", "sha1");
  add("Checksums-Sha256", "sha256");
  add("Checksums-Sha512", "sha512");
  return files;
}

async function readSources(options: WriteRepositoryOptions, components: string[]): Promise<SourceEntry[]> {
  const entries: SourceEntry[] = [];
  for (const item of options.sources ?? []) {
    const { dsc, component = components[0]! } = typeof item === "string" ? { dsc: item } : item;
    if (!components.includes(component)) {
      throw debianError("REPO_INVALID", `${dsc}: component ${component} is not one of the repository's (${components.join(", ")})`);
    }
    const text = await readFile(dsc, "utf8");
    const fields = parseDeb822Single(stripSignature(text, dsc), { source: dsc });
    const source = checkSourceName(fields.require("Source", dsc), "Source", dsc);
    checkVersion(fields.require("Version", dsc), "Version", dsc);
    const directory = `pool/${component}/${poolPrefix(source)}/${source}`;
    const dscDigests = hashBuffer(await readFile(dsc));
    const files: SourceEntry["files"] = [];
    for (const [name, declared] of dscFileList(fields)) {
      if (name.includes("/") || name.startsWith("."))
        throw debianError("CONTROL_FILE_INVALID", `${dsc}: listed file name ${JSON.stringify(name)} is not a plain file name`);
      const path = join(dirname(dsc), name);
      let actual: Awaited<ReturnType<typeof hashFile>>;
      try {
        actual = await hashFile(path);
      } catch (error) {
        throw debianError("LISTED_FILE_MISSING", `${dsc} lists ${name}, which is not beside it (${path})`, {
          cause: error,
          details: { path },
        });
      }
      for (const key of ["md5", "sha1", "sha256", "sha512"] as const) {
        const expected = declared[key];
        if (actual.size !== declared.size || (expected !== undefined && expected !== actual[key])) {
          throw debianError("CHECKSUM_MISMATCH", `${path}: size or ${key} differs from what ${basename(dsc)} declares`, {
            details: { path, expectedSize: declared.size, actualSize: actual.size },
          });
        }
      }
      files.push({ name, path, size: actual.size, md5: actual.md5, sha1: actual.sha1, sha256: actual.sha256, sha512: actual.sha512 });
    }
    entries.push({
      component,
      fields,
      directory,
      dsc: { name: basename(dsc), path: dsc, ...dscDigests },
      files,
    });
  }
  return entries;
}

async function xzCompress(data: Buffer, logger?: Logger): Promise<Buffer> {
  const chunks: Buffer[] = [];
  // -T1: single-threaded output is the same on every machine (threaded xz splits into blocks by core count)
  await run("xz", ["-6", "-T1", "--check=crc64", "-c"], {
    input: data,
    captureStdout: false,
    onStdout: (chunk) => chunks.push(chunk),
    logger,
    timeoutMs: 10 * 60_000,
    debianPackage: "xz-utils",
  });
  return Buffer.concat(chunks);
}

/** An index file and its compressed variants, written into a directory of the new generation. */
interface WrittenIndex {
  entries: ReleaseFileEntry[];
}

async function writeIndex(
  generation: string,
  relPath: string,
  data: Buffer,
  compressions: ReadonlyArray<"gzip" | "xz">,
  logger?: Logger,
): Promise<WrittenIndex> {
  const variants: Array<[string, Buffer]> = [[relPath, data]];
  for (const compression of compressions) {
    if (compression === "gzip") variants.push([`${relPath}.gz`, gzipSync(data, { level: 9 })]);
    else variants.push([`${relPath}.xz`, await xzCompress(data, logger)]);
  }
  const entries: ReleaseFileEntry[] = [];
  for (const [path, bytes] of variants) {
    await mkdir(dirname(join(generation, path)), { recursive: true });
    await writeFile(join(generation, path), bytes);
    entries.push(entryFor(path, bytes));
  }
  return { entries };
}

function entryFor(path: string, bytes: Buffer | string): ReleaseFileEntry {
  const d = hashBuffer(bytes);
  return { path, size: d.size, md5: d.md5, sha1: d.sha1, sha256: d.sha256, sha512: d.sha512 };
}

function comparePackages(a: BinaryEntry, b: BinaryEntry): number {
  const an = a.control.get("Package")!;
  const bn = b.control.get("Package")!;
  if (an !== bn) return an < bn ? -1 : 1;
  const v = compareVersions(a.control.get("Version")!, b.control.get("Version")!);
  if (v !== 0) return v;
  const aa = a.control.get("Architecture")!;
  const ba = b.control.get("Architecture")!;
  return aa < ba ? -1 : aa > ba ? 1 : 0;
}

function dedupeBinaries(binaries: BinaryEntry[]): BinaryEntry[] {
  const byPool = new Map<string, BinaryEntry>();
  for (const b of binaries) {
    const seen = byPool.get(b.poolPath);
    if (seen === undefined) byPool.set(b.poolPath, b);
    else if (seen.digests.sha256 !== b.digests.sha256) {
      throw debianError("REPO_POOL_CONFLICT", `${b.sourcePath} and ${seen.sourcePath} are both ${basename(b.poolPath)} but differ`, {
        details: { path: b.poolPath },
      });
    } else if (seen.component !== b.component) {
      throw debianError("REPO_INVALID", `${basename(b.poolPath)} is given for two components (${seen.component}, ${b.component})`);
    }
  }
  return [...byPool.values()].sort(comparePackages);
}

function formatStanzas(stanzas: Paragraph[]): Buffer {
  return Buffer.from(stanzas.map((s) => `${s.toString()}\n`).join(""), "utf8");
}

function componentRelease(options: WriteRepositoryOptions, component: string, architecture: string): string {
  const p = new Paragraph();
  p.set("Archive", options.suite);
  if (options.origin) p.set("Origin", options.origin);
  if (options.label) p.set("Label", options.label);
  if (options.version) p.set("Version", options.version);
  if (options.acquireByHash ?? true) p.set("Acquire-By-Hash", "yes");
  p.set("Component", component);
  p.set("Architecture", architecture);
  return p.toString();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Where dists/<suite> points now (a generation directory name), or undefined. */
async function currentGeneration(distsDir: string, suite: string): Promise<{ kind: "link"; name: string } | { kind: "dir" } | undefined> {
  try {
    const stat = await lstat(join(distsDir, suite));
    if (stat.isSymbolicLink()) return { kind: "link", name: basename(await readlink(join(distsDir, suite))) };
    if (stat.isDirectory()) return { kind: "dir" };
    throw debianError("REPO_INVALID", `${join(distsDir, suite)} is neither a directory nor a symbolic link`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Link the by-hash files of the previous generation's current indexes into the new generation. */
async function carryOverByHash(previousDir: string, generation: string, hashDirs: readonly ReleaseHash[]): Promise<void> {
  let text: string;
  try {
    text = await readFile(join(previousDir, "Release"), "utf8");
  } catch {
    return;
  }
  let release: ReturnType<typeof parseRelease>;
  try {
    release = parseRelease(text, join(previousDir, "Release"));
  } catch {
    return; // an unreadable old Release only costs the grace period
  }
  for (const entry of release.files.values()) {
    for (const hash of hashDirs) {
      const digest = hash === "SHA512" ? entry.sha512 : entry.sha256;
      if (digest === undefined) continue;
      const rel = join(dirname(entry.path), "by-hash", hash, digest);
      const target = join(generation, rel);
      try {
        await lstat(target);
        continue; // the new generation has it already
      } catch {
        // not there yet
      }
      try {
        await mkdir(dirname(target), { recursive: true });
        await link(join(previousDir, rel), target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    }
  }
}

/** Write (or rewrite) one suite of an APT repository from a set of .debs and source packages. */
export async function writeAptRepository(options: WriteRepositoryOptions): Promise<WrittenRepository> {
  const { root, suite, logger } = options;
  checkName("suite", suite);
  const components = options.components ?? ["main"];
  for (const c of components) checkName("component", c);
  if (options.architectures.length === 0) throw debianError("REPO_INVALID", "a repository needs at least one architecture");
  for (const a of options.architectures) {
    checkName("architecture", a);
    if (a === "all" || a === "source")
      throw debianError("REPO_INVALID", `"${a}" is not a binary architecture (arch:all packages go into every binary-<arch> index)`);
  }
  const compressions = options.compressions ?? ["gzip", "xz"];
  const acquireByHash = options.acquireByHash ?? true;
  const date = options.date ?? new Date();
  const hashes: ReleaseHash[] = [
    "MD5Sum",
    ...(options.sha1 ? (["SHA1"] as const) : []),
    "SHA256",
    ...(options.sha512 ? (["SHA512"] as const) : []),
  ];
  const byHashDirs: ReleaseHash[] = ["SHA256", ...(options.sha512 ? (["SHA512"] as const) : [])];

  // 1. read and check every input before touching the repository
  const binaries = dedupeBinaries(await readBinaries(options, components));
  const sources = (await readSources(options, components)).sort((a, b) => {
    const an = a.fields.get("Source")!;
    const bn = b.fields.get("Source")!;
    return an !== bn ? (an < bn ? -1 : 1) : compareVersions(a.fields.get("Version")!, b.fields.get("Version")!);
  });

  // 2. the pool: append-only, shared by every suite
  const links = options.poolLinks ?? false;
  for (const b of binaries) await addToPool(root, b.poolPath, b.sourcePath, b.digests.sha256, links, logger);
  for (const s of sources) {
    for (const f of [s.dsc, ...s.files]) await addToPool(root, `${s.directory}/${f.name}`, f.path, f.sha256, links, logger);
  }

  // 3. a new generation of dists/<suite>
  const distsDir = join(root, "dists");
  await mkdir(distsDir, { recursive: true });
  const id = randomBytes(8).toString("hex");
  const generationName = `.${suite}.gen-${id}`;
  const building = join(distsDir, `.${suite}.tmp-${id}`);
  await mkdir(building);
  try {
    const files: ReleaseFileEntry[] = [];
    for (const component of components) {
      for (const arch of options.architectures) {
        const stanzas = binaries
          .filter((b) => b.component === component)
          .filter((b) => {
            const a = b.control.get("Architecture");
            return a === arch || a === "all";
          })
          .map((b) =>
            packagesStanza(b.control, {
              filename: b.poolPath,
              size: b.digests.size,
              md5: b.digests.md5,
              ...(options.sha1 ? { sha1: b.digests.sha1 } : {}),
              sha256: b.digests.sha256,
              ...(options.sha512 ? { sha512: b.digests.sha512 } : {}),
            }),
          );
        const dir = `${component}/binary-${arch}`;
        files.push(...(await writeIndex(building, `${dir}/Packages`, formatStanzas(stanzas), compressions, logger)).entries);
        const release = componentRelease(options, component, arch);
        await writeFile(join(building, dir, "Release"), release);
        files.push(entryFor(`${dir}/Release`, release));
      }
      if (sources.length > 0 || options.sourceIndexes) {
        const stanzas = sources
          .filter((s) => s.component === component)
          .map((s) => {
            const pick = (f: SourceFileInfo): SourceFileInfo => ({
              name: f.name,
              size: f.size,
              md5: f.md5,
              ...(options.sha1 ? { sha1: f.sha1 } : {}),
              sha256: f.sha256,
              ...(options.sha512 ? { sha512: f.sha512 } : {}),
            });
            return sourcesStanza(s.fields, s.directory, pick(s.dsc), s.files.map(pick));
          });
        files.push(...(await writeIndex(building, `${component}/source/Sources`, formatStanzas(stanzas), compressions, logger)).entries);
        const release = componentRelease(options, component, "source");
        await writeFile(join(building, component, "source", "Release"), release);
        files.push(entryFor(`${component}/source/Release`, release));
      }
    }
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

    if (acquireByHash) {
      for (const file of files) {
        for (const hash of byHashDirs) {
          const digest = hash === "SHA512" ? file.sha512! : file.sha256!;
          const target = join(building, dirname(file.path), "by-hash", hash, digest);
          await mkdir(dirname(target), { recursive: true });
          try {
            await link(join(building, file.path), target);
          } catch (error) {
            // two indexes with the same content (empty Packages for two architectures) share one by-hash file
            if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
          }
        }
      }
    }

    const info: ReleaseInfo = {
      suite,
      date,
      architectures: options.architectures,
      components,
      acquireByHash,
      ...(options.origin === undefined ? {} : { origin: options.origin }),
      ...(options.label === undefined ? {} : { label: options.label }),
      ...(options.codename === undefined ? {} : { codename: options.codename }),
      ...(options.version === undefined ? {} : { version: options.version }),
      ...(options.description === undefined ? {} : { description: options.description }),
      ...(options.validForSeconds === undefined ? {} : { validUntil: new Date(date.getTime() + options.validForSeconds * 1000) }),
      ...(options.signedByField && options.signer ? { signedBy: [options.signer.fingerprint] } : {}),
    };
    const release = formatRelease(info, files, hashes);
    await writeFile(join(building, "Release"), release);
    if (options.signer) {
      const signatures = await options.signer.sign(release);
      await writeFile(join(building, "InRelease"), signatures.inline);
      await writeFile(join(building, "Release.gpg"), signatures.detached);
    }

    // 4. switch dists/<suite> to the new generation
    const previous = await currentGeneration(distsDir, suite);
    if (acquireByHash && previous) await carryOverByHash(join(distsDir, suite), building, byHashDirs);
    await rename(building, join(distsDir, generationName));
    let previousName: string | undefined;
    if (previous?.kind === "dir") {
      // a plain directory from an older writer: move it aside first (the only non-atomic step, done once)
      previousName = `.${suite}.gen-${randomBytes(8).toString("hex")}`;
      await rename(join(distsDir, suite), join(distsDir, previousName));
    } else if (previous?.kind === "link") previousName = previous.name;
    const tempLink = join(distsDir, `.${suite}.link-${id}`);
    await symlink(generationName, tempLink);
    await rename(tempLink, join(distsDir, suite));

    // 5. keep the new and the previous generation only; drop what a crashed writer of this suite left behind
    const pattern = new RegExp(`^\\.${escapeRegExp(suite)}\\.(gen|tmp|link)-[0-9a-f]+$`);
    for (const name of await readdir(distsDir)) {
      if (pattern.test(name) && name !== generationName && name !== previousName) {
        await rm(join(distsDir, name), { recursive: true, force: true });
      }
    }
    logger?.info({ suite, packages: binaries.length, sources: sources.length, signed: options.signer !== undefined }, "repository written");
    return {
      root,
      suite,
      distDir: join(distsDir, suite),
      generationDir: join(distsDir, generationName),
      release,
      files,
      packages: binaries.length,
      sources: sources.length,
      ...(options.signer ? { fingerprint: options.signer.fingerprint } : {}),
    };
  } finally {
    await rm(building, { recursive: true, force: true });
  }
}
