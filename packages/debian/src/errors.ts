import { type ErrorCatalogue, errorFactory } from "@debian-bootc/core";

/**
 * Every error code the debian package raises. Add a code here (and to docs/errors.md, which a test
 * checks) before raising it; keep codes grouped by module.
 */
export const debianErrorCodes = {
  // deb822 and the OpenPGP cleartext wrapper
  DEB822_SYNTAX: { category: "input", summary: "A control-style (deb822) file is malformed; the message names the line and why." },
  DEB822_TOO_LARGE: {
    category: "input",
    summary: "A deb822 line or field exceeds the parser's size limit (protection against hostile input).",
  },
  DEB822_MISSING_FIELD: {
    category: "input",
    summary: "A required field is missing from a paragraph (for example Package in a Packages stanza).",
  },
  SIGNED_MESSAGE_SYNTAX: { category: "input", summary: "An OpenPGP cleartext-signed message (.dsc, InRelease) is malformed." },
  // versions and relations
  VERSION_INVALID: { category: "input", summary: "A Debian version string breaks the policy rules; the message says which rule." },
  RELATION_SYNTAX: {
    category: "input",
    summary: "A dependency relation field (Depends, Build-Depends, ...) cannot be parsed; the message shows where.",
  },
  // package field values (package-fields.ts)
  PACKAGE_NAME_INVALID: {
    category: "input",
    summary: "A Package, Source or Binary value is not a Debian package name (Policy 5.6.1, 5.6.7); the message names the field.",
  },
  ARCHITECTURE_INVALID: {
    category: "input",
    summary: "An Architecture value is not a Debian architecture name (or is a wildcard where one concrete name is needed).",
  },
  // batches (build-order.ts)
  BATCH_SOURCE_DUPLICATE: { category: "input", summary: "A batch of source packages to order names the same source twice." },
  BUILD_DEPENDENCY_CYCLE: {
    category: "input",
    summary: "Sources of a batch build-depend on each other's binaries in a cycle; the message names each source and what it needs.",
  },
  BINNMU_INVALID: {
    category: "input",
    summary: "A binNMU request has a number outside 1-9999, a reason that is not one line of printable text, or a malformed maintainer.",
  },
  // source and upload files
  CONTROL_FILE_INVALID: { category: "input", summary: "A .dsc, .changes or .buildinfo lacks a required field or has a malformed one." },
  CHANGELOG_INVALID: {
    category: "input",
    summary: "A debian/changelog entry is malformed; the message names the line and what was expected.",
  },
  CHECKSUM_MISMATCH: {
    category: "input",
    summary: "A file's size or checksum differs from what a .dsc, .changes, Release or Packages file declares.",
  },
  LISTED_FILE_MISSING: { category: "not-found", summary: "A file listed in a .dsc or .changes is not present beside it." },
  // .deb reading
  DEB_INVALID: { category: "input", summary: "A .deb is not a valid Debian binary package (bad ar container, members or control data)." },
  DEB_UNSAFE_PATH: { category: "input", summary: "A .deb's tar member points outside the package (`..` or an absolute path)." },
  DEB_COMPRESSION_UNSUPPORTED: { category: "input", summary: "A .deb member uses a compression this reader does not know." },
  // APT repositories and sources
  REPO_FETCH_FAILED: {
    category: "environment",
    summary: "An APT repository file could not be fetched (HTTP error, missing file:// path).",
  },
  REPO_SIGNATURE_INVALID: {
    category: "input",
    summary: "An InRelease or Release.gpg signature does not verify against the given keyring.",
  },
  REPO_INVALID: { category: "input", summary: "An APT repository's Release or index files are inconsistent or malformed." },
  REPO_POOL_CONFLICT: {
    category: "conflict",
    summary: "A file being added to an APT repository's pool is already there (or given twice) with different content.",
  },
  SIGNING_FAILED: { category: "environment", summary: "Signing with the OpenPGP key failed (gpg error, missing or unusable key)." },
  SOURCES_INVALID: {
    category: "input",
    summary: "An APT sources file (one-line or deb822) has a malformed entry; the message names file and line.",
  },
  NO_MIRROR: { category: "config", summary: "No Debian mirror could be found in the host's APT sources and none was given." },
} as const satisfies ErrorCatalogue;

export const debianError = errorFactory(debianErrorCodes);
