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

/**
 * Debian version rules (deb-version(7)): [epoch:]upstream[-revision]; epoch digits; upstream starts with a
 * digit and uses alphanumerics and . + ~ (- only with a revision, : only with an epoch); revision uses
 * alphanumerics and + . ~.
 */
export function checkVersion(value: string, field = "version"): string {
  const fail = (why: string) =>
    orchestratorError("VERSION_INVALID", `${field} '${clip(value)}' is not a Debian version: ${why}`, { details: { field } });
  if (value.length === 0 || value.length > 256) throw fail("empty or too long");
  let rest = value;
  const colon = rest.indexOf(":");
  const hasEpoch = colon !== -1;
  if (hasEpoch) {
    const epoch = rest.slice(0, colon);
    if (!/^[0-9]+$/.test(epoch)) throw fail("the epoch must be digits");
    rest = rest.slice(colon + 1);
  }
  const dash = rest.lastIndexOf("-");
  const hasRevision = dash !== -1;
  const upstream = hasRevision ? rest.slice(0, dash) : rest;
  const revision = hasRevision ? rest.slice(dash + 1) : undefined;
  if (!/^[0-9]/.test(upstream)) throw fail("the upstream version must start with a digit");
  const allowed = `A-Za-z0-9.+~${hasRevision ? "\\-" : ""}${hasEpoch ? ":" : ""}`;
  if (!new RegExp(`^[${allowed}]+$`).test(upstream)) throw fail("the upstream version has a character that is not allowed");
  if (revision !== undefined && !/^[A-Za-z0-9.+~]+$/.test(revision))
    throw fail("the revision is empty or has a character that is not allowed");
  return value;
}

function clip(value: string): string {
  const printable = value.replace(/[^\x20-\x7e]/g, "?");
  return printable.length > 80 ? `${printable.slice(0, 77)}...` : printable;
}
