import { type ErrorCatalogue, errorFactory } from "@debian-bootc/core";

/**
 * Every error code deb-mock raises. The category decides the exit code (core's `exitCodes`):
 * build-failed 1, usage/input/config 2, dependencies 3, environment 4, locked 5, interrupted 130.
 */
export const debMockErrorCodes = {
  // profiles and configuration
  PROFILE_NOT_FOUND: { category: "config", summary: "No profile of that name exists in the shipped, /etc or user configuration." },
  PROFILE_INVALID: { category: "config", summary: "A profile, after layering, does not match the schema; the message names the field." },
  CONFIG_OPT_INVALID: { category: "usage", summary: "A --config-opt KEY=VALUE is malformed or names an unknown field or a wrong value." },
  // inputs
  DSC_FIELD_INVALID: {
    category: "input",
    summary: "A field of the source package (Build-Depends, Build-Conflicts, ...) is not what Debian policy allows; the message names it.",
  },
  BUILD_INPUT_INVALID: {
    category: "input",
    summary: "The .dsc, source directory or package name given to build is malformed or incomplete.",
  },
  SOURCE_FETCH_FAILED: {
    category: "environment",
    summary: "apt-get source could not fetch the source package from the profile's deb-src.",
  },
  SNAPSHOT_NOT_FOUND: { category: "not-found", summary: "A kept snapshot named on the command line does not exist." },
  // environment
  BASE_CREATE_FAILED: { category: "environment", summary: "mmdebstrap (or the set-up after it) failed while creating a base." },
  BASE_MISSING: { category: "environment", summary: "The profile has no cached base and creating one was not allowed." },
  INDEX_UPDATE_FAILED: { category: "environment", summary: "apt-get update failed while refreshing the cached package index." },
  ID_RANGE_MISSING: {
    category: "config",
    summary: "The calling user has no subordinate uid/gid range (/etc/subuid, /etc/subgid) for the environments' user namespaces.",
  },
  APT_DOWNLOAD_REFUSED: {
    category: "environment",
    summary: "apt planned a download deb-mock does not fetch: not from a configured source, without a SHA256, or not a plain .deb name.",
  },
  SANDBOX_FAILED: { category: "environment", summary: "The isolated environment could not be set up (namespaces, overlayfs, bubblewrap)." },
  // builds
  DEPENDENCIES_UNSATISFIABLE: {
    category: "dependencies",
    summary: "apt could not satisfy the Build-Depends/Build-Conflicts in the snapshot.",
  },
  BUILD_FAILED: { category: "build-failed", summary: "dpkg-buildpackage (or dpkg-source) exited non-zero; see build.log." },
  CHECK_FAILED: { category: "build-failed", summary: "An optional post-build check (--lintian, --install-test, --reproducible) failed." },
  COMMAND_FAILED_IN_ENV: { category: "build-failed", summary: "A command run by chroot/runInEnvironment exited non-zero." },
} as const satisfies ErrorCatalogue;

export const debMockError = errorFactory(debMockErrorCodes);
