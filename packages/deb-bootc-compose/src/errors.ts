import { type ErrorCatalogue, errorFactory } from "@debian-bootc/core";

/**
 * Every error code deb-bootc-compose raises (listed in docs/errors.md too). Grouped by module.
 */
export const composeErrorCodes = {
  // compose definitions
  DEFINITION_INVALID: {
    category: "config",
    summary: "A compose definition is inconsistent (unknown variant parent, inheritance cycle, unknown failable deliverable, ...).",
  },
  // OCI image writer
  ROOTFS_NOT_FOUND: { category: "not-found", summary: "The root tree given to the image writer does not exist or is not a directory." },
  ROOTFS_CHANGED: {
    category: "environment",
    summary: "A file in the root tree changed size while its layer was written; the tree must not change during the write.",
  },
  OCI_LAYOUT_INVALID: { category: "input", summary: "An OCI image layout (index.json, manifest or config) is missing or malformed." },
  // phase engine
  COMPOSE_PHASE_UNKNOWN: { category: "usage", summary: "--skip-phase or --just-phase names a phase that does not exist." },
  COMPOSE_DIR_INVALID: { category: "not-found", summary: "A directory given as a compose has no STATUS or compose metadata." },
  COMPOSE_PHASE_FAILED: {
    category: "build-failed",
    summary: "A compose phase failed; the compose is DOOMED and the phase's log holds the details.",
  },
  // lint
  LINT_FAILED: { category: "build-failed", summary: "The image content fails one or more lint checks of error severity." },
} as const satisfies ErrorCatalogue;

export const composeError = errorFactory(composeErrorCodes);
