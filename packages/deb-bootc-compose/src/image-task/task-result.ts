import { z } from "zod";
import { composeError } from "../errors.js";

/**
 * W/out/result.json, the contract between `image-task` on the builder and the client that places its
 * result: the files (each a plain name in W/out, with its kind) and `result`, the records the client
 * rebuilds its compose state from. The client reads it back from the hub, so it is checked again there.
 */

/** One path component: never '.', '..', hidden or with a slash. */
export const IMAGE_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,200}$/;
export const fileName = z.string().regex(IMAGE_FILE_NAME, "expected a plain file name");
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const text = z.string().max(1000);

/** A boot test's message in a result: longer ones are cut on the builder (BOOT_MESSAGE_MAX) and refused on the client. */
export const BOOT_MESSAGE_MAX = 4000;

/** One boot of a marker boot test, with what the guest's marker said (the image's own words: bounded text). */
export const bootStep = z.strictObject({
  name: text,
  marker: z
    .strictObject({
      composeId: text,
      version: text,
      commit: sha256,
      bootedDeployment: z.strictObject({ os: text, commit: sha256 }).optional(),
      deployments: z.array(sha256).max(100),
      complete: z.boolean(),
      prettyName: text.optional(),
    })
    .optional(),
  timeToMarkerMs: z.number().optional(),
  durationMs: z.number(),
  ended: z.enum(["matched", "exited"]),
});

/**
 * The builder's marker boot of the disk image it made: the image and the logs by their file names in the
 * result (the client records its own paths), never a builder's path.
 */
export const markerBootSchema = z.strictObject({
  variant: z.string(),
  arch: z.string(),
  kind: z.literal("marker"),
  /** The disk image file it booted (one of disk.files). */
  image: fileName,
  passed: z.boolean(),
  accel: z.enum(["kvm", "tcg"]),
  accelReason: text.optional(),
  message: z.string().max(BOOT_MESSAGE_MAX),
  steps: z.array(bootStep).max(4),
  durationMs: z.number(),
  /** The `log` files of the boot's console and of what the results port carried. */
  consoleLog: fileName.optional(),
  resultsLog: fileName.optional(),
});
export type MarkerBootResult = z.infer<typeof markerBootSchema>;

export const imageFileKinds = ["oci-archive", "ostree-commit", "disk-image", "log", "metadata"] as const;
export type ImageFileKind = (typeof imageFileKinds)[number];

/** The disk images a builder made, by their file names, and the commit they deploy. */
const diskSchema = z.object({
  files: z.array(z.object({ file: fileName, format: z.enum(["raw", "qcow2"]), size: z.number().int().min(0), sha256 })).max(8),
  rootUuid: text,
  osName: text,
  remote: text,
  ref: text,
  commit: sha256,
  secureBoot: z.boolean(),
  firmware: z.enum(["uefi", "bios", "hybrid"]),
  durationMs: z.number(),
});

const phasesSchema = z
  .array(
    z.object({
      name: text,
      outcome: text,
      durationMs: z.number().optional(),
      notes: z.array(z.string().max(4000)).max(100).optional(),
      /** Why it failed (the disk image's failure comes back here; the client's definition decides what it is worth). */
      error: z.object({ code: text, message: z.string().max(4000) }).optional(),
    }),
  )
  .max(20);

/**
 * A composeImage task's result (and, once the client placed its diskImage task's, the whole of a
 * variant/arch: the disk images and the marker boot are that task's).
 */
export const imageTaskResultSchema = z.object({
  variant: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  arch: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/),
  /** The rootfs phase's details of the tree (its path stays on the builder). */
  rootfs: z.object({
    kver: text,
    durations: z.record(z.string(), z.number()),
    from: z.enum(["snapshot", "repositories"]),
    origin: z.enum(["reused", "built", "unkeyed"]),
    key: sha256.optional(),
    treeId: text.optional(),
    builtBy: text.optional(),
  }),
  /** The unsigned commit in the ostree-commit tar's repository, with what the ostree phase recorded. */
  ostree: z
    .object({
      ref: text,
      commit: sha256,
      /** The parent the commit records: the previous commit the client sent (the client checks the object too). */
      parent: sha256.optional(),
      version: text,
      kver: text.optional(),
      treeKey: sha256.optional(),
      treeId: text.optional(),
      commitKey: sha256.optional(),
    })
    .optional(),
  /** The OCI archive (the client unpacks the layout from it when the definition wants one). */
  oci: z.object({ file: fileName, sha256 }).optional(),
  disk: diskSchema.optional(),
  /** The marker boot of the disk image, when the request asked for it (state.bootTest). */
  bootTests: z.array(markerBootSchema).max(8).optional(),
  /** The phases as the builder's run recorded them (outcome, time, notes). */
  phases: phasesSchema,
});
export type ImageTaskResult = z.infer<typeof imageTaskResultSchema>;

export const resultJsonSchema = z.object({
  files: z.array(z.object({ name: fileName, kind: z.enum(imageFileKinds) })).max(200),
  result: imageTaskResultSchema,
});
export type ResultJson = z.infer<typeof resultJsonSchema>;

/** A diskImage task's result: the disk images of the commit it was sent, their marker boot, its phases. */
export const diskTaskResultSchema = z.strictObject({
  variant: imageTaskResultSchema.shape.variant,
  arch: imageTaskResultSchema.shape.arch,
  disk: diskSchema.optional(),
  bootTests: z.array(markerBootSchema).max(8).optional(),
  phases: phasesSchema,
});
export type DiskTaskResult = z.infer<typeof diskTaskResultSchema>;

export const diskResultJsonSchema = z.object({
  files: z.array(z.object({ name: fileName, kind: z.enum(["disk-image", "log"]) })).max(200),
  result: diskTaskResultSchema,
});
export type DiskResultJson = z.infer<typeof diskResultJsonSchema>;

/** A builder's result read with its schema before the client acts on it; IMAGE_RESULT_REFUSED naming the field. */
export function parseTaskResult<T>(schema: z.ZodType<T>, what: string, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw composeError("IMAGE_RESULT_REFUSED", `${what}: ${issue.path.join(".")}: ${issue.message}`, {
      details: { field: issue.path.join(".") },
    });
  }
  return parsed.data;
}

/** A task's `image` result checked before the client acts on it. */
export function parseImageTaskResult(value: unknown): ImageTaskResult {
  return parseTaskResult(imageTaskResultSchema, "image task result", value);
}

/** A diskImage task's `image` result checked before the client acts on it. */
export function parseDiskTaskResult(value: unknown): DiskTaskResult {
  return parseTaskResult(diskTaskResultSchema, "disk image task result", value);
}
