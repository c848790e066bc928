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
  PUSH_DESTINATION_INVALID: {
    category: "usage",
    summary:
      "--push names one destination for several images (it needs {variant} and/or {arch} placeholders to tell them apart), or one that is not a transport:reference skopeo takes.",
  },
  PUSH_SIGNING_KEY_INVALID: {
    category: "config",
    summary:
      "The sigstore signing key for pushes cannot be read: not an encrypted sigstore private key, or its passphrase does not open it.",
  },
  // phase engine
  COMPOSE_PHASE_UNKNOWN: { category: "usage", summary: "--skip-phase or --just-phase names a phase that does not exist." },
  COMPOSE_DIR_INVALID: { category: "not-found", summary: "A directory given as a compose has no STATUS or compose metadata." },
  COMPOSE_PHASE_FAILED: {
    category: "build-failed",
    summary: "A compose phase failed; the compose is DOOMED and the phase's log holds the details.",
  },
  // pkgset, gather, snapshot-repo, metadata
  PKGSET_REPOSITORY_FAILED: {
    category: "environment",
    summary: "A repository of the definition cannot be read: InRelease missing or not signed by its key, an index missing or corrupt.",
  },
  PKGSET_REPOSITORY_UNSUPPORTED: {
    category: "config",
    summary: "A repository type the package-set phase cannot read yet (deb-orchestrator tags).",
  },
  PKGSET_UNKNOWN_PACKAGE: { category: "dependencies", summary: "A requested package is in none of the repositories for the architecture." },
  PKGSET_UNSATISFIABLE: {
    category: "dependencies",
    summary: "A dependency of the package set cannot be satisfied; the message gives the chain from a requested package to the relation.",
  },
  PKGSET_CONFLICT: { category: "dependencies", summary: "Two packages the set must contain conflict with (or break) each other." },
  LOCKFILE_INVALID: {
    category: "input",
    summary: "A --lockfile is not a deb-bootc-compose lockfile (JSON with name, version, arch, sha256 per package).",
  },
  GATHER_MISSING: {
    category: "not-found",
    summary: "A .deb of the package set is not on the mirror (HTTP 404); the message names the package and URL.",
  },
  GATHER_FAILED: { category: "environment", summary: "A .deb could not be downloaded, or its size or SHA256 differs from the index." },
  PHASE_PREREQUISITE: {
    category: "usage",
    summary: "A phase needs the result of an earlier phase that did not run in this compose (e.g. --just-phase gather).",
  },
  // rootfs, ostree, image-build, test (image side)
  UPDATE_KEY_INVALID: {
    category: "config",
    summary: "The update channel's signing key (updates.key) is missing or not an unprotected OpenPGP secret key.",
  },
  CHANNEL_PUBLISH_FAILED: {
    category: "environment",
    summary: "Publishing a compose's commits into the channel's repository (pull, sign, static delta, summary) failed.",
  },
  ROOTFS_LAYOUT_FAILED: {
    category: "build-failed",
    summary: "The installed tree cannot be laid out for ostree (a non-empty /media, a special file in /var, ...).",
  },
  ROOTFS_CUSTOMIZE_FAILED: {
    category: "build-failed",
    summary: "A customisation of the image tree failed: a postprocess script, a file's owner, a user or unit step.",
  },
  IMAGE_PATH_UNRESOLVABLE: {
    category: "build-failed",
    summary:
      "A path the compose writes in an image tree cannot be resolved inside it (a symlink loop, a file where a directory is needed, an owner outside the image's id range).",
  },
  SANDBOX_PATH_UNREACHABLE: {
    category: "environment",
    summary:
      "A directory the compose's rootless sandbox must use (the compose output, a tree, a repository) lies under a directory other users cannot enter; its root is an unprivileged id of the host.",
  },
  ROOTFS_CACHE_FAILED: {
    category: "environment",
    summary:
      "The rootfs cache (<cache-dir>/rootfs) could not be used: a tree could not be copied in or out (a lock that stays taken is LOCKED).",
  },
  KERNEL_COUNT: {
    category: "build-failed",
    summary: "The image tree has no kernel or more than one; an ostree image needs exactly one in /usr/lib/modules.",
  },
  OSTREE_FAILED: {
    category: "build-failed",
    summary: "An ostree command (init, commit, pull-local, admin deploy, fsck) failed; the message carries its output.",
  },
  DISK_IMAGE_FAILED: {
    category: "build-failed",
    summary: "A disk image could not be built (partitioning, a filesystem, the bootloader); the message names the step.",
  },
  FIRMWARE_NOT_FOUND: { category: "environment", summary: "UEFI firmware for the boot test is missing (install Debian's ovmf package)." },
  BOOT_TEST_FAILED: {
    category: "build-failed",
    summary:
      "A disk image did not boot to the compose's marker (or an update/rollback step failed) within the time limit, or the guest stopped (a kernel panic, an emergency shell); the message ends with the console's last lines, logs/ holds the whole serial console.",
  },
  // build (deb-orchestrator)
  ORCHESTRATOR_CONFIG: {
    category: "config",
    summary: "The deb-orchestrator hub or token cannot be read from the flags, the definition, the environment or client.yaml.",
  },
  ORCHESTRATOR_FAILED: {
    category: "environment",
    summary: "The compose cannot use deb-orchestrator: the embedded hub does not start, or the target cannot be created on the hub.",
  },
  BUILD_SOURCE_FAILED: {
    category: "input",
    summary:
      "A source of the build section cannot be read or fetched (no debian/changelog, not in the archive's Sources, a file missing or corrupt).",
  },
  BUILD_SOURCE_CHANGED: {
    category: "conflict",
    summary:
      "The hub has a build of the source's name and version made from different files (a tree changed without a new changelog version); bump the version (dch -i) or delete the hub's build.",
  },
  BUILD_TAG_UNSEEN: {
    category: "config",
    summary:
      "Sources of the build section build-depend on each other's binaries, but the target's build tag does not see its destination tag, so a later level could never install what an earlier one built; use the same tag for both, or a build tag that inherits the destination tag.",
  },
  ORCHESTRATOR_BUILD_FAILED: {
    category: "build-failed",
    summary: "A deb-orchestrator build of the build section failed; the message has the hub's `why` answer and the end of the build log.",
  },
  // image tasks (the image phases of one variant/arch on a builder, and their result placed on the client)
  IMAGE_TASK_REQUEST_INVALID: {
    category: "input",
    summary:
      "An image task's request.json is not a composeImage (for disk-image a diskImage, for update-test an updateTest) request this command takes: a field fails its schema (a path with '..', an odd name), the definition names a variant or arch it lacks, sets allowAbsolutePaths, or refers to a file the request does not list.",
  },
  IMAGE_TASK_STATE_INVALID: {
    category: "input",
    summary:
      "An image task's `state` fails its schema: an unknown field (a path has no place in it), a suite, component, package name or version that is not Debian's, a key that is not an armoured public key.",
  },
  IMAGE_PHASES_FAILED: {
    category: "build-failed",
    summary:
      "An image task's phases failed on the builder, or its task on the hub failed; the message names the phase or the task's error, the hint its log.",
  },
  COMMIT_SIGNATURE_REFUSED: {
    category: "input",
    summary:
      "A diskImage task's commit is not deployed: the repository tar lacks the commit sent or its ref points elsewhere, or the definition has an updates section and the commit bears no good signature by the channel key its image carries (the detached metadata sent is not the client's signature).",
  },
  IMAGE_RESULT_REFUSED: {
    category: "input",
    summary:
      "An image task's result cannot be placed into the compose: a record fails its schema, a file is missing or differs from its checksum, or a tar holds a member outside its directory, a link or a device.",
  },
  // lint
  LINT_FAILED: { category: "build-failed", summary: "The image content fails one or more lint checks of error severity." },
} as const satisfies ErrorCatalogue;

export const composeError = errorFactory(composeErrorCodes);
