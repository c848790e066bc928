/**
 * One error type for the whole project: a stable code (listed in docs/errors.md), a category that the
 * CLI edge maps to an exit code and the HTTP edge maps to a status, a message, and an optional hint.
 */
export type ErrorCategory =
  | "usage" // wrong command-line use
  | "input" // a file or request the user gave is malformed
  | "config" // configuration or profile is malformed
  | "not-found"
  | "conflict" // the thing exists already, or is in a state that forbids the change
  | "unauthorized"
  | "forbidden"
  | "environment" // a tool, mount, namespace or the network failed under us
  | "build-failed" // the package itself failed to build
  | "dependencies" // build or runtime dependencies cannot be satisfied
  | "locked" // a lock is held by another process
  | "interrupted" // SIGINT/SIGTERM or an AbortSignal
  | "timeout"
  | "too-large" // a body, upload, log or quota exceeds its configured size
  | "too-many" // too many concurrent requests of a kind (streams) from a client or in total
  | "internal";

export interface ErrorSpec {
  readonly category: ErrorCategory;
  /** One line for docs/errors.md: when this code is raised. */
  readonly summary: string;
}

export type ErrorCatalogue = Readonly<Record<string, ErrorSpec>>;

export interface CodedErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Machine-readable context (file, line, field, ...), rendered by --json and the HTTP layer. */
  details?: Record<string, unknown>;
}

export class CodedError extends Error {
  readonly code: string;
  readonly category: ErrorCategory;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, category: ErrorCategory, message: string, options: CodedErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CodedError";
    this.code = code;
    this.category = category;
    this.hint = options.hint;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint === undefined ? {} : { hint: this.hint }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/** The function a package uses to raise errors from its own catalogue: the code is type-checked. */
export type ErrorFactory<C extends ErrorCatalogue> = (code: keyof C & string, message: string, options?: CodedErrorOptions) => CodedError;

export function errorFactory<C extends ErrorCatalogue>(catalogue: C): ErrorFactory<C> {
  return (code, message, options) => {
    const spec = catalogue[code];
    if (spec === undefined) throw new Error(`unknown error code ${code}`);
    return new CodedError(code, spec.category, message, options);
  };
}

export function isCodedError(error: unknown, code?: string): error is CodedError {
  return error instanceof CodedError && (code === undefined || error.code === code);
}

/** HTTP status for an error category, used by every HTTP layer. */
export function httpStatusFor(category: ErrorCategory): number {
  switch (category) {
    case "usage":
    case "input":
    case "config":
    case "dependencies":
    case "build-failed":
      return 400;
    case "unauthorized":
      return 401;
    case "forbidden":
      return 403;
    case "not-found":
      return 404;
    case "conflict":
    case "locked":
      return 409;
    case "too-large":
      return 413;
    case "too-many":
      return 429;
    case "timeout":
      return 504;
    case "interrupted":
    case "environment":
      return 503;
    case "internal":
      return 500;
  }
}

/** Errors of the core package itself. */
export const coreErrorCodes = {
  COMMAND_FAILED: { category: "environment", summary: "A subprocess exited non-zero; the message carries the tail of its stderr." },
  COMMAND_NOT_FOUND: { category: "environment", summary: "A required program is not installed (the hint names the Debian package)." },
  COMMAND_TIMEOUT: { category: "timeout", summary: "A subprocess ran longer than its time limit and was killed." },
  INTERRUPTED: { category: "interrupted", summary: "Work was interrupted by SIGINT, SIGTERM or an abort signal." },
  LOCKED: { category: "locked", summary: "A cache lock is held by another process (deb-mock, a compose) and was not released in time." },
  LOCK_FAILED: { category: "environment", summary: "flock(1) could not take a cache lock (not a locking conflict)." },
  CONFIG_INVALID: {
    category: "config",
    summary: "A YAML configuration file does not match its schema; the message names the file and field path.",
  },
  CONFIG_SYNTAX: {
    category: "config",
    summary: "A YAML configuration file is not valid YAML; the message names the file, line and column.",
  },
  CONFIG_NOT_FOUND: { category: "not-found", summary: "A configuration file named on the command line does not exist." },
  USAGE: { category: "usage", summary: "The command line is wrong: an unknown option, a missing argument or a bad value." },
  INTERNAL: { category: "internal", summary: "A bug: an unexpected exception reached the error boundary." },
} as const satisfies ErrorCatalogue;

export const coreError = errorFactory(coreErrorCodes);
