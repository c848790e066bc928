import { type ErrorCatalogue, errorFactory } from "@debian-bootc/core";

/**
 * Every error code deb-orchestrator raises (hub, builder, client). The HTTP layer maps the category to a
 * status with core's httpStatusFor and answers `{code, message}`; the CLI maps it to an exit code.
 */
export const orchestratorErrorCodes = {
  // requests
  REQUEST_INVALID: {
    category: "input",
    summary: "A request body, query or parameter does not match the API schema; the message names the field.",
  },
  NAME_INVALID: { category: "input", summary: "A tag, target, host, user, repo or package name breaks the naming rules." },
  PATH_INVALID: { category: "input", summary: "A file name or path is absolute, contains `..` or characters that are not allowed." },
  BODY_TOO_LARGE: { category: "too-large", summary: "A request body or upload exceeds the hub's size limit." },
  // limits (each configurable: deb-orchestrator hub --help)
  TOO_MANY_STREAMS: {
    category: "too-many",
    summary: "A client (user, or address when anonymous) or the hub as a whole has as many event and log streams open as allowed.",
  },
  UPLOAD_QUOTA_EXCEEDED: {
    category: "too-large",
    summary: "The user's uploads that no build or task refers to yet would exceed the hub's upload quota.",
  },
  LOG_TOO_LARGE: { category: "too-large", summary: "A task's logs together would exceed the hub's limit; the chunk was not written." },
  NOT_FOUND: { category: "not-found", summary: "The task, build, tag, target, host, user or file named does not exist." },
  ROUTE_NOT_FOUND: { category: "not-found", summary: "No API endpoint answers this method and path." },
  // authentication and permissions
  AUTH_REQUIRED: {
    category: "unauthorized",
    summary: "The endpoint needs an API token (Authorization: Bearer ...) and none or an unknown one was given.",
  },
  PERMISSION_DENIED: {
    category: "forbidden",
    summary: "The token's user lacks the permission (admin, build, tag, repo, host) this endpoint needs.",
  },
  CSRF_INVALID: {
    category: "forbidden",
    summary: "A web UI form was posted from another site or without the session's CSRF token; nothing was changed.",
  },
  HOST_DISABLED: { category: "forbidden", summary: "The builder host is disabled by an administrator and gets no tasks." },
  // state
  ALREADY_EXISTS: { category: "conflict", summary: "A tag, target, user, external repo or host of that name exists already." },
  BUILD_EXISTS: {
    category: "conflict",
    summary: "A build of this source name and version exists and is building or complete (builds are immutable).",
  },
  TASK_STATE: { category: "conflict", summary: "The task is in a state that forbids the change (for example cancel of a closed task)." },
  TASK_NOT_OWNED: {
    category: "conflict",
    summary: "A builder reported on a task it no longer holds (its lease lapsed or the task was freed or canceled).",
  },
  COMPOSE_STATE: {
    category: "conflict",
    summary: "The compose has ended: its phases and results cannot change any more.",
  },
  COMPOSE_ABANDONED: {
    category: "timeout",
    summary:
      "The compose's client stopped reporting and renewing its lease (killed, or its machine gone): the hub ended the compose TERMINATED and its running phase interrupted.",
  },
  TAG_LOOP: { category: "conflict", summary: "The inheritance change would make a tag its own ancestor." },
  // artifacts
  ARTIFACT_MISMATCH: {
    category: "input",
    summary: "An uploaded file's size or sha256 differs from what the client declared; nothing was stored.",
  },
  ARTIFACT_MISSING: { category: "not-found", summary: "A file referenced by sha256 has not been uploaded to the hub's artifact store." },
  SOURCE_INVALID: { category: "input", summary: "The submitted source package (.dsc and its files) is malformed or incomplete." },
  BUILD_RESULT_INVALID: {
    category: "input",
    summary:
      "A builder's result does not belong to the task's .dsc (a file that is not a .deb, a package, version or architecture the .dsc does not name, an inconsistent .changes/.buildinfo); the task fails and no tag changes.",
  },
  RESPONSE_CONTRACT_VIOLATED: {
    category: "internal",
    summary:
      "A bug: the hub's answer does not match its API contract (checked when the hub runs with checkResponses, as in the test suite); the hub's log names the field.",
  },
  // builder and client
  HUB_UNREACHABLE: { category: "environment", summary: "The hub did not answer (connection refused, DNS, timeout)." },
  HUB_ERROR: { category: "environment", summary: "The hub answered with an unexpected status or body." },
  CLIENT_CONFIG: { category: "config", summary: "No hub URL or token: give --hub/--token(-file) or write them in the client config file." },
  BUILD_STEP_FAILED: {
    category: "build-failed",
    summary: "The build step on the builder failed; the task result carries the tail of the build log.",
  },
  BUILD_ENVIRONMENT_FAILED: {
    category: "environment",
    summary: "The builder's build environment failed (not the package): the task may be retried elsewhere.",
  },
  BUILDER_CAPABILITY_MISSING: {
    category: "environment",
    summary:
      "The builder declares a capability this host lacks (`image` needs root and the image tools: mmdebstrap, skopeo, qemu-img, sgdisk, mkfs.vfat, qemu-system-x86_64).",
  },
  IMAGE_TASK_FAILED: {
    category: "build-failed",
    summary:
      "A compose's image task failed on the builder and `deb-bootc-compose image-task` gave no coded error of its own (the task's image.log has its output).",
  },
  IMAGE_RESULT_INVALID: {
    category: "input",
    summary:
      "An image task's out/result.json is malformed or too large, or names a file that is not a regular file directly in out/ (a symlink, a path, a missing file); nothing was uploaded.",
  },
  PUBLISH_FAILED: { category: "environment", summary: "Writing or signing a tag's APT repository failed." },
  WEBHOOK_TARGET_REFUSED: {
    category: "input",
    summary:
      "A webhook URL's host is (or resolves to) a loopback, link-local, unspecified or multicast address or one of the hub's own, and local targets were not allowed for it.",
  },
  DATABASE_URL_INVALID: { category: "config", summary: "The --db value is neither sqlite:PATH nor postgres://..." },
} as const satisfies ErrorCatalogue;

export type OrchestratorErrorCode = keyof typeof orchestratorErrorCodes;
export const orchestratorError = errorFactory(orchestratorErrorCodes);
