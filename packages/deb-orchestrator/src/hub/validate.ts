import { debianError, versionProblem } from "@debian-bootc/debian";
import { orchestratorError } from "../errors.js";

/* Names, versions and paths coming from requests. Each check throws a coded input error naming the field. */

const PACKAGE_NAME = /^[a-z0-9][a-z0-9.+-]+$/;
/** Tags, targets, hosts, users, external repos: letters, digits and . _ + - ; up to 64 characters. */
const OBJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
const ARCH = /^[a-z0-9][a-z0-9-]{0,31}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+~:-]{0,254}$/;

export function checkPackageName(value: string, field = "package"): string {
  if (!PACKAGE_NAME.test(value) || value.length > 128)
    throw orchestratorError("NAME_INVALID", `${field} '${clip(value)}' is not a Debian package name`, {
      hint: "Debian package names are at least two characters of a-z, 0-9, '+', '-' and '.', starting with a letter or digit",
      details: { field },
    });
  return value;
}

export function checkName(value: string, field: string): string {
  if (!OBJECT_NAME.test(value))
    throw orchestratorError("NAME_INVALID", `${field} '${clip(value)}' is not a valid name`, {
      hint: "names are 1-64 characters of letters, digits, '.', '_', '+' and '-', starting with a letter or digit",
      details: { field },
    });
  return value;
}

export function checkArch(value: string, field = "arch"): string {
  if (!ARCH.test(value))
    throw orchestratorError("NAME_INVALID", `${field} '${clip(value)}' is not a Debian architecture name`, { details: { field } });
  return value;
}

export function checkSha256(value: string, field = "sha256"): string {
  if (!SHA256.test(value)) throw orchestratorError("REQUEST_INVALID", `${field} must be 64 lower-case hex digits`, { details: { field } });
  return value;
}

/** A single file name: no directory part, no `..`, nothing that is not a plain Debian file name character. */
export function checkFileName(value: string, field = "name"): string {
  if (!FILE_NAME.test(value) || value.includes(".."))
    throw orchestratorError("PATH_INVALID", `${field} '${clip(value)}' is not a plain file name`, {
      hint: "no '/', no '..', no leading dot; letters, digits and . _ + ~ : -",
      details: { field },
    });
  return value;
}

/** Debian version rules (deb-version(7), Policy 5.6.12), checked by the debian package's parser (its VERSION_INVALID). */
export function checkVersion(value: string, field = "version"): string {
  const problem = value.length > 256 ? "longer than 256 characters" : versionProblem(value);
  if (problem !== undefined)
    throw debianError("VERSION_INVALID", `${field} '${clip(value)}' is not a Debian version: ${problem}`, { details: { field } });
  return value;
}

function clip(value: string): string {
  const printable = value.replace(/[^\x20-\x7e]/g, "?");
  return printable.length > 80 ? `${printable.slice(0, 77)}...` : printable;
}
