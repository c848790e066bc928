/** Composes recorded by the hub: deb-bootc-compose creates one, reports its phases, then ends it with its results. */
import { z } from "zod";
import { count, ok, operations, rowId, sha256, size, time } from "./operation.js";

/** A compose's status, as deb-bootc-compose writes it in the compose's STATUS file. */
export const composeStatuses = ["STARTED", "FINISHED", "FINISHED_INCOMPLETE", "DOOMED", "TERMINATED"] as const;
export type ComposeStatus = (typeof composeStatuses)[number];
/** The statuses a compose ends with. */
export const composeEndStatuses = ["FINISHED", "FINISHED_INCOMPLETE", "DOOMED", "TERMINATED"] as const;

/** A phase's status: pending, running while it runs, then its outcome as the compose's logs/phases.json records it. */
export const composePhaseStatuses = ["pending", "running", "done", "skipped", "failed", "failed-failable", "interrupted"] as const;
export type ComposePhaseStatus = (typeof composePhaseStatuses)[number];

/** A compose ID (`<name>-<version>-<YYYYMMDD>.<n>`): a file name's characters, no leading dot. */
export const composeId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+~-]*$/);
const phaseName = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[a-z][a-z0-9-]*$/);
const shortText = z.string().min(1).max(200);
const arch = z.string().min(1).max(32);
const codedFailure = z.object({ code: z.string().min(1).max(64), message: z.string().max(4000) });

export const composeSummary = z.object({
  id: composeId,
  name: z.string(),
  status: z.enum(composeStatuses),
  owner: z.string(),
  definitionHash: z.string(),
  startedAt: time,
  completedAt: time.nullable(),
});
export type ComposeSummary = z.infer<typeof composeSummary>;

export const composePhase = z.object({
  name: z.string(),
  status: z.enum(composePhaseStatuses),
  startedAt: time.nullable(),
  completedAt: time.nullable(),
  error: codedFailure.nullable(),
});
export type ComposePhase = z.infer<typeof composePhase>;

export const composeImage = z.object({
  variant: shortText,
  arch,
  /** oci, qcow2, raw, ociarchive, iso, ostree... */
  kind: shortText,
  /** Where it is in the compose directory. */
  path: z.string().min(1).max(500),
  digest: z.string().min(1).max(200).nullable(),
  size,
});
export type ComposeImage = z.infer<typeof composeImage>;

export const composePackage = z.object({
  variant: shortText,
  arch,
  name: z.string().min(1).max(128),
  version: z.string().min(1).max(256),
  packageArch: arch,
  /** The build of this hub it came from, if this hub built it. */
  build: rowId.nullable(),
});
export type ComposePackage = z.infer<typeof composePackage>;

/** An ostree ref as ostree names them (components of letters, digits, '_', '.', '-', not first): it may reach a command line. */
export const ostreeRefName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$/);

/** One variant/arch commit the compose's publish phase put on its update channel. */
export const composePublishedCommit = z.object({
  variant: shortText,
  arch,
  ref: ostreeRefName,
  commit: sha256,
  /** A static delta from the ref's previous commit was generated. */
  delta: z.boolean(),
  /** false: the ref already pointed to this commit. */
  changed: z.boolean(),
});

/** Where a compose was published: the update channel's public URL (http(s) only, else none) and its commits. */
export const composePublished = z.object({
  url: z
    .string()
    .max(2000)
    .regex(/^https?:\/\/[^\s"'<>\\]+$/)
    .nullable(),
  commits: z.array(composePublishedCommit).min(1).max(1000),
});
export type ComposePublished = z.infer<typeof composePublished>;

/** A compose with its definition, phases, images, packages, package diff and where it was published (the SBOM has its own operation). */
export const composeView = composeSummary.extend({
  definition: z.string(),
  phases: z.array(composePhase),
  images: z.array(composeImage),
  packages: z.array(composePackage),
  /** The package diff against the previous compose of the same definition, as the compose wrote it. */
  diff: z.unknown().nullable(),
  /** Where the publish phase put it; null when the definition has no channel or the compose did not get there. */
  published: composePublished.nullable(),
  /** Whether an SBOM was recorded (getComposeSbom answers it). */
  hasSbom: z.boolean(),
});
export type ComposeView = z.infer<typeof composeView>;

const composeParams = z.object({ id: composeId });
/** The largest phase log kept (its tail, when longer). */
export const composeLogLimit = 256 * 1024;

export const composeOperations = operations({
  createCompose: {
    method: "POST",
    path: "/api/v1/composes",
    permission: "build",
    summary: "Record a compose that starts: its ID, definition and the phases it will run",
    body: z.object({
      id: composeId,
      /** The definition's name (compose IDs start with it). */
      name: z
        .string()
        .min(1)
        .max(128)
        .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/),
      definition: z
        .string()
        .min(1)
        .max(1024 * 1024),
      phases: z.array(phaseName).max(64).optional(),
    }),
    status: 201,
    response: composeSummary,
  },
  listComposes: {
    method: "GET",
    path: "/api/v1/composes",
    summary: "List composes, newest first",
    query: z.object({
      name: z.string().min(1).max(128).optional(),
      status: z.enum(composeStatuses).optional(),
      limit: z.number().int().min(1).max(1000).optional(),
    }),
    response: z.array(composeSummary),
  },
  getCompose: {
    method: "GET",
    path: "/api/v1/composes/:id",
    summary: "One compose: phases, images, packages with their builds, the package diff, where it was published",
    params: composeParams,
    response: composeView,
  },
  getComposeSbom: {
    method: "GET",
    path: "/api/v1/composes/:id/sbom",
    summary: "A compose's SBOM: one SPDX document per image (variant.arch)",
    params: composeParams,
    response: z.record(z.string(), z.unknown()),
  },
  readComposePhaseLog: {
    method: "GET",
    path: "/api/v1/composes/:id/phases/:phase/log",
    summary: "A compose phase's log (its tail, when long)",
    params: composeParams.extend({ phase: phaseName }),
    produces: "text/plain",
  },
  reportComposePhase: {
    method: "PUT",
    path: "/api/v1/composes/:id/phases/:phase",
    permission: "build",
    summary: "Report a compose phase: started (running) or ended, with its log",
    params: composeParams.extend({ phase: phaseName }),
    body: z.object({
      status: z.enum(composePhaseStatuses),
      startedAt: time.optional(),
      completedAt: time.optional(),
      error: codedFailure.optional(),
      log: z.string().max(composeLogLimit).optional(),
    }),
    response: ok,
  },
  renewCompose: {
    method: "POST",
    path: "/api/v1/composes/:id/heartbeat",
    permission: "build",
    summary: "The compose's client is still there: renew its lease (a compose whose lease lapses is ended TERMINATED)",
    params: composeParams,
    response: z.object({ leaseMs: count }),
  },
  finishCompose: {
    method: "POST",
    path: "/api/v1/composes/:id/finish",
    permission: "build",
    summary: "End a compose with its status and results: images, packages with their builds, SBOM, package diff, where it was published",
    params: composeParams,
    body: z.object({
      status: z.enum(composeEndStatuses),
      images: z.array(composeImage).max(1000).optional(),
      packages: z.array(composePackage).max(200_000).optional(),
      sbom: z.record(z.string(), z.unknown()).optional(),
      diff: z.unknown().optional(),
      published: composePublished.optional(),
    }),
    response: composeSummary.extend({ packages: count, images: count }),
  },
});
