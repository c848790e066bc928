import { formatRelations, parseDeb822, parseRelations, stripSignature } from "@debian-bootc/debian";
import { debMockError } from "./errors.js";

/**
 * What a build needs from a .dsc. (A minimal reader on top of parseDeb822; when the debian package's
 * source-package.ts lands, `readDscText` becomes a thin adapter over its .dsc parser.)
 */
export interface DscInfo {
  source: string;
  version: string;
  /** Files listed by the .dsc (Files / Checksums-Sha256), beside it. */
  files: string[];
  buildDepends: string;
  buildDependsArch: string;
  buildDependsIndep: string;
  buildConflicts: string;
  buildConflictsArch: string;
  buildConflictsIndep: string;
}

/**
 * A relation field of the .dsc as data: parsed by the debian package's relation parser and written
 * back in dpkg-dev's canonical spelling (so every element starts with a package name, never with `-`:
 * apt cannot read it as an option). Anything else is DSC_FIELD_INVALID naming the field.
 */
function relationField(value: string | undefined, field: string, path: string): string {
  if (!value?.trim()) return "";
  try {
    return formatRelations(parseRelations(value));
  } catch (error) {
    throw debMockError("DSC_FIELD_INVALID", `${path}: ${field} is not a list of Debian package relations: ${(error as Error).message}`, {
      cause: error,
      details: { field },
      hint: "a relation is NAME[:ARCH] [(OP VERSION)] [ARCHES] [<PROFILES>], separated by ',' and '|'",
    });
  }
}

export function readDscText(text: string, path: string): DscInfo {
  const paragraphs = parseDeb822(stripSignature(text, path), { source: path });
  const p = paragraphs[0];
  if (!p) throw debMockError("BUILD_INPUT_INVALID", `${path}: empty .dsc`);
  const source = p.get("Source");
  const version = p.get("Version");
  if (!source || !/^[a-z0-9][a-z0-9+.-]+$/.test(source)) {
    throw debMockError("BUILD_INPUT_INVALID", `${path}: Source field missing or not a source package name`);
  }
  if (!version || !/^[0-9A-Za-z.+~:-]+$/.test(version))
    throw debMockError("BUILD_INPUT_INVALID", `${path}: Version field missing or malformed`);
  const files = new Set<string>();
  for (const field of ["Checksums-Sha256", "Files"]) {
    for (const line of (p.get(field) ?? "").split("\n")) {
      const parts = line.trim().split(/\s+/);
      const name = parts[2];
      if (parts.length !== 3 || !name) continue;
      if (name.includes("/") || name.startsWith("."))
        throw debMockError("BUILD_INPUT_INVALID", `${path}: ${field}: unsafe file name '${name}'`);
      files.add(name);
    }
  }
  if (files.size === 0) throw debMockError("BUILD_INPUT_INVALID", `${path}: lists no files (Files / Checksums-Sha256)`);
  return {
    source,
    version,
    files: [...files],
    buildDepends: relationField(p.get("Build-Depends"), "Build-Depends", path),
    buildDependsArch: relationField(p.get("Build-Depends-Arch"), "Build-Depends-Arch", path),
    buildDependsIndep: relationField(p.get("Build-Depends-Indep"), "Build-Depends-Indep", path),
    buildConflicts: relationField(p.get("Build-Conflicts"), "Build-Conflicts", path),
    buildConflictsArch: relationField(p.get("Build-Conflicts-Arch"), "Build-Conflicts-Arch", path),
    buildConflictsIndep: relationField(p.get("Build-Conflicts-Indep"), "Build-Conflicts-Indep", path),
  };
}

export type BuildType = "binary" | "arch" | "indep" | "full";

/**
 * The `apt-get satisfy` arguments for a build type: dependency strings, then `Conflicts:` strings, all
 * re-rendered by the relation parser (readDscText); the caller still puts them after `--`.
 */
export function satisfyArgs(dsc: DscInfo, type: BuildType): string[] {
  const arch = type !== "indep";
  const indep = type !== "arch";
  const deps = [dsc.buildDepends, arch ? dsc.buildDependsArch : "", indep ? dsc.buildDependsIndep : ""].filter(Boolean);
  const conflicts = [dsc.buildConflicts, arch ? dsc.buildConflictsArch : "", indep ? dsc.buildConflictsIndep : ""].filter(Boolean);
  return [...deps, ...conflicts.map((c) => `Conflicts: ${c}`)];
}

/** dpkg-buildpackage's flag for a build type. */
export function buildTypeFlag(type: BuildType): string {
  return { binary: "--build=binary", arch: "--build=any", indep: "--build=all", full: "--build=full" }[type];
}

/** The upstream part of a Debian version (no epoch, no revision): names the unpacked directory. */
export function upstreamVersion(version: string): string {
  const noEpoch = version.replace(/^\d+:/, "");
  const dash = noEpoch.lastIndexOf("-");
  return dash > 0 ? noEpoch.slice(0, dash) : noEpoch;
}

/**
 * SOURCE_DATE_EPOCH from debian/changelog: the date of the first entry's trailer line
 * (` -- Name <email>  Thu, 01 Jan 2025 12:00:00 +0000`), in seconds.
 */
export function changelogTimestamp(changelog: string, path = "debian/changelog"): number {
  for (const line of changelog.split("\n")) {
    const match = /^ -- .*?>\s\s?(\S.*)$/.exec(line);
    if (!match) continue;
    const ms = Date.parse(match[1]!.trim());
    if (Number.isNaN(ms)) throw debMockError("BUILD_INPUT_INVALID", `${path}: cannot read the date '${match[1]}' of the first entry`);
    return Math.floor(ms / 1000);
  }
  throw debMockError("BUILD_INPUT_INVALID", `${path}: no trailer line (' -- Name <email>  DATE') in the first entry`);
}

/** `name` or `name=version` for `build PACKAGE[=VERSION]`; undefined when it is not that form. */
export function parsePackageSpec(spec: string): { name: string; version?: string } | undefined {
  const match = /^([a-z0-9][a-z0-9+.-]+)(?:=([0-9][0-9A-Za-z.+~:-]*))?$/.exec(spec);
  if (!match) return undefined;
  return match[2] ? { name: match[1]!, version: match[2] } : { name: match[1]! };
}

/** Does `text` (apt's output) say that dependencies cannot be satisfied (as opposed to a network error)? */
export function isUnsatisfiableAptOutput(text: string): boolean {
  return /Unmet dependencies|Unable to correct problems|Unsatisfied dependencies|has no installation candidate|Unable to locate package|Unable to satisfy|but it is not installable|but it is not going to be installed/.test(
    text,
  );
}
