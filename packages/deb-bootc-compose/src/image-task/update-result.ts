import { z } from "zod";
import { BOOT_MESSAGE_MAX, bootStep, fileName, parseTaskResult } from "./task-result.js";

/**
 * W/out/result.json of `update-test` (the contract between the builder's update boot test and the client
 * that records it): `result.update` is the record, the image and the logs by their file names (the client
 * records its own paths), never a builder's path. The client reads it back from the hub, so it is checked
 * again there, strictly: an unknown field is refused.
 */
const text = z.string().max(1000);
const count = z.number().int().min(0);

export const updateTestRecordSchema = z.strictObject({
  variant: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  arch: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/),
  kind: z.literal("update"),
  /** The previous image it booted (the request's image name). */
  image: fileName,
  from: z.strictObject({ commit: z.string().regex(/^[0-9a-f]{64}$/) }),
  to: z.strictObject({ commit: z.string().regex(/^[0-9a-f]{64}$/), composeId: text }),
  passed: z.boolean(),
  accel: z.enum(["kvm", "tcg"]),
  accelReason: text.optional(),
  message: z.string().max(BOOT_MESSAGE_MAX),
  steps: z.array(bootStep).max(4),
  durationMs: z.number(),
  /** What the test's server sent during the upgrade boot. */
  served: z.strictObject({ bytes: count, requests: count, deltaRequests: count }).optional(),
  /** The `log` files of the boot's console and of what the results port carried. */
  consoleLog: fileName.optional(),
  resultsLog: fileName.optional(),
});
export type UpdateTestRecord = z.infer<typeof updateTestRecordSchema>;

export const updateResultSchema = z.strictObject({ update: updateTestRecordSchema });

export const updateResultJsonSchema = z.strictObject({
  files: z.array(z.strictObject({ name: fileName, kind: z.literal("log") })).max(4),
  result: updateResultSchema,
});
export type UpdateResultJson = z.infer<typeof updateResultJsonSchema>;

/** A task's `image` result, checked before the client acts on it. */
export function parseUpdateResult(value: unknown): UpdateTestRecord {
  return parseTaskResult(updateResultSchema, "update test result", value).update;
}
