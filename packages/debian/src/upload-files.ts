import { basename, dirname, resolve } from "node:path";
import { writeFileAtomic } from "@debian-bootc/core";
import type { ChangelogEntry } from "./changelog.js";
import { hashFile } from "./checksums.js";
import { readDeb } from "./deb-file.js";
import { Paragraph } from "./deb822.js";
import { type ListedFile, parseListedFiles, verifyListedFiles } from "./listed-files.js";
import { checkArchitecture, checkSourceName, checkVersion } from "./package-fields.js";
import { fieldReader, parseControlFile, readControlText, readDsc } from "./source-package.js";

/**
 * Upload control files: .changes (what dpkg-genchanges writes and dput/dak read) and .buildinfo (the
 * record of a build's environment). Parse, verify the listed files, and write a .changes from a set of
 * build results.
 */
export interface ChangesFile {
  paragraph: Paragraph;
  signature?: string;
  format: string;
  date: string;
  /** Source package name (a `(version)` suffix, used for binNMUs, goes to sourceVersion). */
  source: string;
  sourceVersion?: string;
  binaries: string[];
  architectures: string[];
  version: string;
  distributions: string[];
  urgency?: string;
  maintainer: string;
  changedBy?: string;
  /** `package - summary` lines of the Description field. */
  descriptions: Array<{ package: string; summary: string }>;
  closes: number[];
  changes: string;
  files: ListedFile[];
}

export interface InstalledPackage {
  name: string;
  archQualifier?: string;
  version: string;
}

export interface BuildinfoFile {
  paragraph: Paragraph;
  signature?: string;
  format: string;
  source: string;
  sourceVersion?: string;
  binaries: string[];
  architectures: string[];
  version: string;
  buildOrigin?: string;
  buildArchitecture?: string;
  buildDate?: string;
  buildPath?: string;
  buildTaintedBy: string[];
  installedBuildDepends: InstalledPackage[];
  environment: Record<string, string>;
  files: ListedFile[];
}

function splitSource(value: string, f: ReturnType<typeof fieldReader>): { source: string; sourceVersion?: string } {
  const m = /^(\S+)(?:\s+\(([^()\s]+)\))?$/.exec(value);
  if (!m) return f.invalid("Source", `expected "name" or "name (version)", got ${JSON.stringify(value)}`);
  const source = f.packageName("Source", m[1]!);
  return m[2] === undefined ? { source } : { source, sourceVersion: m[2] };
}

/** Parse the text of a .changes (signed or not). */
export function parseChanges(text: string, source = "input.changes"): ChangesFile {
  const { paragraph, signature } = parseControlFile(text, source);
  const f = fieldReader(paragraph, source);
  const descriptions = paragraph.lines("Description").map((line) => {
    const m = /^(\S+)\s+-\s?(.*)$/.exec(line);
    if (!m) return f.invalid("Description", `expected "package - summary", got ${JSON.stringify(line)}`);
    return { package: m[1]!, summary: m[2]! };
  });
  const closes = f.words("Closes", /\s+/).map((n) => {
    if (!/^[0-9]+$/.test(n)) f.invalid("Closes", `${JSON.stringify(n)} is not a bug number`);
    return Number(n);
  });
  const changes: ChangesFile = {
    paragraph,
    format: f.required("Format"),
    date: f.required("Date"),
    ...splitSource(f.required("Source"), f),
    binaries: f.words("Binary", /\s+/),
    architectures: f.words("Architecture", /\s+/),
    version: f.version("Version"),
    distributions: f.words("Distribution", /\s+/),
    maintainer: f.required("Maintainer"),
    descriptions,
    closes,
    changes: paragraph.get("Changes") ?? "",
    files: parseListedFiles(paragraph, source, { withSectionPriority: true }),
  };
  if (changes.architectures.length === 0) f.invalid("Architecture", "missing or empty");
  if (changes.distributions.length === 0) f.invalid("Distribution", "missing or empty");
  const urgency = paragraph.get("Urgency");
  if (urgency !== undefined) changes.urgency = urgency;
  const changedBy = paragraph.get("Changed-By");
  if (changedBy !== undefined) changes.changedBy = changedBy;
  if (signature !== undefined) changes.signature = signature;
  return changes;
}

/** Undo the double quoting of .buildinfo's Environment values (`NAME="value"`, with \" and \\ escapes). */
function parseEnvironment(lines: string[], f: ReturnType<typeof fieldReader>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of lines) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"$/.exec(line);
    if (!m) return f.invalid("Environment", `expected NAME="value", got ${JSON.stringify(line)}`);
    env[m[1]!] = m[2]!.replace(/\\(.)/g, "$1");
  }
  return env;
}

/** Parse the text of a .buildinfo (signed or not). */
export function parseBuildinfo(text: string, source = "input.buildinfo"): BuildinfoFile {
  const { paragraph, signature } = parseControlFile(text, source);
  const f = fieldReader(paragraph, source);
  const installedBuildDepends: InstalledPackage[] = f.relations("Installed-Build-Depends").map((group) => {
    const rel = group[0];
    if (group.length !== 1 || rel === undefined || rel.version?.op !== "=") {
      return f.invalid(
        "Installed-Build-Depends",
        `expected "package (= version)" entries, got ${JSON.stringify(group.map((r) => r.name).join(" | "))}`,
      );
    }
    return rel.archQualifier === undefined
      ? { name: rel.name, version: rel.version.version }
      : { name: rel.name, archQualifier: rel.archQualifier, version: rel.version.version };
  });
  const info: BuildinfoFile = {
    paragraph,
    format: f.required("Format"),
    ...splitSource(f.required("Source"), f),
    binaries: f.words("Binary", /\s+/),
    architectures: f.words("Architecture", /\s+/),
    version: f.version("Version"),
    buildTaintedBy: paragraph.lines("Build-Tainted-By"),
    installedBuildDepends,
    environment: parseEnvironment(paragraph.lines("Environment"), f),
    files: parseListedFiles(paragraph, source, { requireFiles: false }),
  };
  const optional: Array<[keyof BuildinfoFile, string]> = [
    ["buildOrigin", "Build-Origin"],
    ["buildArchitecture", "Build-Architecture"],
    ["buildDate", "Build-Date"],
    ["buildPath", "Build-Path"],
  ];
  for (const [key, field] of optional) {
    const value = paragraph.get(field);
    if (value !== undefined) (info as unknown as Record<string, unknown>)[key] = value;
  }
  if (info.files.length === 0) f.invalid("Checksums-Sha256", "lists no files");
  if (signature !== undefined) info.signature = signature;
  return info;
}

export async function readChanges(path: string): Promise<ChangesFile> {
  return parseChanges(await readControlText(path), path);
}

export async function readBuildinfo(path: string): Promise<BuildinfoFile> {
  return parseBuildinfo(await readControlText(path), path);
}

/** Check that every file a .changes or .buildinfo lists is beside it, with the listed size and digests. */
export async function verifyUploadFiles(path: string, parsed?: { files: ListedFile[] }): Promise<void> {
  const files = parsed?.files ?? (path.endsWith(".buildinfo") ? (await readBuildinfo(path)).files : (await readChanges(path)).files);
  await verifyListedFiles(files, dirname(resolve(path)), { source: path });
}

export interface ChangesInput {
  /** Build results: a .dsc (its listed files are added after it), .deb/.udeb/.ddeb files, a .buildinfo, others. */
  files: readonly string[];
  /** The first debian/changelog entry: Date, Version, Distribution, Urgency, Changed-By, Changes, Closes. */
  changelog: ChangelogEntry;
  /** The source package's Maintainer (debian/control); defaults to the .dsc's. */
  maintainer?: string;
  /** Section and priority of the source package, used for the .dsc, its files and the .buildinfo. */
  sourceSection?: string;
  sourcePriority?: string;
  /** Overrides of the changelog's values. */
  distribution?: string;
  urgency?: string;
  date?: string;
  changedBy?: string;
  /** Leave out files of the .dsc matching this (for example the orig tarball of a -2 upload). */
  skipSourceFile?: (name: string) => boolean;
}

interface ListedUpload {
  path: string;
  section: string;
  priority: string;
}

/**
 * Build the .changes paragraph for a set of files, with the fields and order dpkg-genchanges writes:
 * Format 1.8, Date, Source, Binary, Architecture, Version, Distribution, Urgency, Maintainer,
 * Changed-By, Description, Closes, Changes, Checksums-Sha1, Checksums-Sha256, Files.
 */
export async function buildChanges(input: ChangesInput): Promise<Paragraph> {
  const entry = input.changelog;
  const dscPaths = input.files.filter((p) => p.endsWith(".dsc"));
  if (dscPaths.length > 1) throw new TypeError(`buildChanges: more than one .dsc given (${dscPaths.join(", ")})`);
  const dsc = dscPaths[0] === undefined ? undefined : await readDsc(dscPaths[0]);
  const sourceSection = input.sourceSection ?? "misc";
  const sourcePriority = input.sourcePriority ?? "optional";
  const listed: ListedUpload[] = [];
  const architectures = new Set<string>();
  const binaries = new Set<string>();
  const descriptions = new Map<string, string>();
  if (dsc !== undefined) {
    architectures.add("source");
    const dir = dirname(resolve(dscPaths[0]!));
    listed.push({ path: dscPaths[0]!, section: sourceSection, priority: sourcePriority });
    for (const f of dsc.files) {
      if (input.skipSourceFile?.(f.name)) continue;
      listed.push({ path: resolve(dir, f.name), section: sourceSection, priority: sourcePriority });
    }
  }
  const binaryFiles = input.files.filter((p) => /\.(deb|udeb|ddeb)$/.test(p)).sort((a, b) => cmp(basename(a), basename(b)));
  const debArchitectures = new Set<string>();
  for (const path of binaryFiles) {
    const deb = await readDeb(path);
    const name = deb.control.require("Package", path);
    debArchitectures.add(deb.control.require("Architecture", path));
    binaries.add(name);
    const summary = (deb.control.get("Description") ?? "").split("\n")[0]!.trim();
    descriptions.set(name, summary);
    listed.push({ path, section: deb.control.get("Section") ?? sourceSection, priority: deb.control.get("Priority") ?? sourcePriority });
  }
  for (const a of [...debArchitectures].sort(cmp)) architectures.add(a);
  for (const path of input.files) {
    if (path.endsWith(".dsc") || /\.(deb|udeb|ddeb)$/.test(path)) continue;
    listed.push({ path, section: sourceSection, priority: sourcePriority });
  }
  // .buildinfo last, as dpkg-genchanges orders it
  listed.sort((a, b) => Number(a.path.endsWith(".buildinfo")) - Number(b.path.endsWith(".buildinfo")));

  const p = new Paragraph();
  p.set("Format", "1.8");
  p.set("Date", input.date ?? entry.date);
  p.set("Source", entry.source);
  // a source-only upload has no Binary field, as dpkg-genchanges -S writes it
  if (binaries.size > 0) p.set("Binary", [...binaries].sort(cmp).join(" "));
  p.set("Architecture", [...architectures].join(" "));
  p.set("Version", entry.version);
  p.set("Distribution", input.distribution ?? entry.distribution);
  p.set("Urgency", input.urgency ?? entry.urgency);
  const maintainer = input.maintainer ?? dsc?.maintainer;
  if (maintainer === undefined) throw new TypeError("buildChanges: no maintainer given and no .dsc to take it from");
  p.set("Maintainer", maintainer);
  p.set("Changed-By", input.changedBy ?? entry.maintainer);
  if (descriptions.size > 0) {
    const lines = [...descriptions].sort(([a], [b]) => cmp(a, b)).map(([name, summary]) => `${name.padEnd(10)} - ${summary}`);
    p.set("Description", `\n${lines.join("\n")}`);
  }
  if (entry.closes.length > 0) p.set("Closes", entry.closes.join(" "));
  p.set("Changes", `\n${entry.changes}`);
  const digests = await Promise.all(listed.map((l) => hashFile(l.path)));
  const rows = listed.map((l, i) => ({ ...l, name: basename(l.path), d: digests[i]! }));
  p.set("Checksums-Sha1", `\n${rows.map((r) => `${r.d.sha1} ${r.d.size} ${r.name}`).join("\n")}`);
  p.set("Checksums-Sha256", `\n${rows.map((r) => `${r.d.sha256} ${r.d.size} ${r.name}`).join("\n")}`);
  p.set("Files", `\n${rows.map((r) => `${r.d.md5} ${r.d.size} ${r.section} ${r.priority} ${r.name}`).join("\n")}`);
  return p;
}

/** Write a .changes for the given files atomically; returns its text. */
export async function writeChanges(path: string, input: ChangesInput): Promise<string> {
  const text = (await buildChanges(input)).toString();
  await writeFileAtomic(path, text);
  return text;
}

/** The usual .changes name: `source_version-without-epoch_arch.changes`. */
export function changesFileName(source: string, version: string, arch: string): string {
  checkSourceName(source);
  checkVersion(version);
  if (arch !== "source") checkArchitecture(arch, "Architecture", undefined, { allowAll: true });
  return `${source}_${version.replace(/^[0-9]+:/, "")}_${arch}.changes`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
