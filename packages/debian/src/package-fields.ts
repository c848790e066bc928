import { debianError } from "./errors.js";
import { versionProblem } from "./version.js";

/**
 * The fields that name a package (Package, Source, Version, Architecture) checked against Debian Policy
 * before anything builds a path, a file name or a command line from them: a .deb's control file, a .dsc
 * or a builder's report are hostile input. Each check returns the value unchanged or throws a coded
 * error that names the field (and the file it came from, when given).
 *
 * - names (Policy 5.6.1, 5.6.7): at least two characters of a-z, 0-9, `+`, `-`, `.`, starting with a
 *   letter or digit; source and binary names follow the same rule;
 * - versions (Policy 5.6.12): `[epoch:]upstream_version[-debian_revision]`, strict (see version.ts);
 * - architectures (Policy 5.6.8, 11.1): dpkg's architecture name syntax, lower-case letters, digits and
 *   `-`, starting with a letter or digit; `all` only where the caller allows it, wildcards never.
 *
 * The length limits are ours, not Policy's: they keep `name_version_arch.deb` within a file name.
 */

const NAME = /^[a-z0-9][a-z0-9+.-]+$/;
const ARCHITECTURE = /^[a-z0-9][a-z0-9-]*$/;
export const MAX_NAME_LENGTH = 100;
export const MAX_VERSION_LENGTH = 100;
export const MAX_ARCHITECTURE_LENGTH = 32;

/** A value safe to quote in a message: printable ASCII, clipped. */
function shown(value: string): string {
  const printable = value.replace(/[^\x20-\x7e]/g, "?");
  return JSON.stringify(printable.length > 80 ? `${printable.slice(0, 77)}...` : printable);
}

function where(field: string, file: string | undefined): string {
  return file === undefined ? field : `${file}: ${field}`;
}

/** A binary package name (Package, Binary, a relation's name). PACKAGE_NAME_INVALID otherwise. */
export function checkPackageName(value: string, field = "Package", file?: string): string {
  if (typeof value !== "string" || value.length > MAX_NAME_LENGTH || !NAME.test(value)) {
    throw debianError("PACKAGE_NAME_INVALID", `${where(field, file)}: ${shown(String(value))} is not a Debian package name`, {
      hint: `package names are 2-${MAX_NAME_LENGTH} characters of a-z, 0-9, '+', '-' and '.', starting with a letter or digit (Debian Policy 5.6.7)`,
      details: { field, ...(file === undefined ? {} : { file }) },
    });
  }
  return value;
}

/** A source package name (Source): the same rule as binary names (Debian Policy 5.6.1). */
export function checkSourceName(value: string, field = "Source", file?: string): string {
  return checkPackageName(value, field, file);
}

/** A Version field (strict Debian Policy 5.6.12 syntax). VERSION_INVALID otherwise. */
export function checkVersion(value: string, field = "Version", file?: string): string {
  const problem =
    typeof value !== "string"
      ? "not a string"
      : value.length > MAX_VERSION_LENGTH
        ? `longer than ${MAX_VERSION_LENGTH} characters`
        : versionProblem(value);
  if (problem !== undefined) {
    throw debianError("VERSION_INVALID", `${where(field, file)}: ${shown(String(value))} is not a Debian version: ${problem}`, {
      hint: "a Debian version is [epoch:]upstream_version[-debian_revision] (Debian Policy 5.6.12)",
      details: { field, reason: problem, ...(file === undefined ? {} : { file }) },
    });
  }
  return value;
}

export interface CheckArchitectureOptions {
  /** Accept `all` (a .deb's Architecture field); default false. */
  allowAll?: boolean;
}

/** One architecture name (amd64, arm64, hurd-i386; `all` when allowed). ARCHITECTURE_INVALID otherwise. */
export function checkArchitecture(value: string, field = "Architecture", file?: string, options: CheckArchitectureOptions = {}): string {
  const bad =
    typeof value !== "string" ||
    value.length > MAX_ARCHITECTURE_LENGTH ||
    !ARCHITECTURE.test(value) ||
    value === "any" ||
    value === "source" ||
    value.split("-").includes("any") ||
    (value === "all" && !options.allowAll);
  if (bad) {
    throw debianError("ARCHITECTURE_INVALID", `${where(field, file)}: ${shown(String(value))} is not a Debian architecture name`, {
      hint: `an architecture is up to ${MAX_ARCHITECTURE_LENGTH} characters of a-z, 0-9 and '-', such as amd64 or hurd-i386${options.allowAll ? ", or all" : ""}`,
      details: { field, ...(file === undefined ? {} : { file }) },
    });
  }
  return value;
}

/** The fields of a binary package's control that name its file: checked together, source defaulting to Package. */
export function checkBinaryIdentity(
  fields: { package: string; version: string; architecture: string; source?: string },
  file?: string,
): { package: string; version: string; architecture: string; source: string } {
  return {
    package: checkPackageName(fields.package, "Package", file),
    version: checkVersion(fields.version, "Version", file),
    architecture: checkArchitecture(fields.architecture, "Architecture", file, { allowAll: true }),
    source: checkSourceName(fields.source ?? fields.package, "Source", file),
  };
}
