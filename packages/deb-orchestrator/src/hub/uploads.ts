import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { orchestratorError } from "../errors.js";
import type { Principal } from "./auth.js";
import type { HubContext } from "./context.js";

/*
 * Who uploaded what, until something refers to it. An upload counts against its user's quota while no
 * build, task or result names it; once one does, the record is dropped (the file belongs to that history
 * now, and deleting a build removes it). An upload nothing names after the grace period is removed.
 * Files stored before uploads were recorded have no record and are never removed here.
 */

/** Does any build, task, result file or binary name this file? */
async function referenced(db: Kysely<Database>, sha256: string): Promise<boolean> {
  const found = await Promise.all([
    db.selectFrom("binaries").select("id").where("sha256", "=", sha256).limit(1).executeTakeFirst(),
    db.selectFrom("task_files").select("task_id").where("sha256", "=", sha256).limit(1).executeTakeFirst(),
    db.selectFrom("builds").select("id").where("source", "like", `%${sha256}%`).limit(1).executeTakeFirst(),
    db.selectFrom("tasks").select("id").where("request", "like", `%${sha256}%`).limit(1).executeTakeFirst(),
  ]);
  return found.some((row) => row !== undefined);
}

/** Refuse an upload that would take the user's unreferenced uploads past the quota. */
export async function checkUploadQuota(ctx: HubContext, user: Principal, size: number): Promise<void> {
  const pending = async () =>
    Number(
      (
        await ctx.db
          .selectFrom("uploads")
          .select((eb) => eb.fn.sum<number | string | null>("size").as("bytes"))
          .where("user_id", "=", user.userId)
          .executeTakeFirst()
      )?.bytes ?? 0,
    );
  if ((await pending()) + size <= ctx.limits.uploadQuotaBytes) return;
  // uploads a build has used since the last sweep no longer count
  await sweepUploads(ctx, user.userId);
  const bytes = await pending();
  if (bytes + size > ctx.limits.uploadQuotaBytes)
    throw orchestratorError(
      "UPLOAD_QUOTA_EXCEEDED",
      `user '${user.name}' has ${bytes} bytes of uploads no build uses yet; ${size} more would exceed the quota of ${ctx.limits.uploadQuotaBytes}`,
      { hint: "submit builds that use the uploaded files, or wait until unused uploads are removed", details: { bytes, size } },
    );
}

export async function recordUpload(ctx: HubContext, user: Principal, sha256: string, size: number): Promise<void> {
  await ctx.db
    .insertInto("uploads")
    .values({ sha256, user_id: user.userId, size, created_at: ctx.now() })
    .onConflict((oc) => oc.columns(["sha256", "user_id"]).doUpdateSet({ created_at: ctx.now() }))
    .execute();
}

/**
 * Drop the records of uploads something refers to now, and remove uploads nothing refers to after the
 * grace period (the file too, unless another user's upload of the same content is still within its grace).
 */
export async function sweepUploads(ctx: HubContext, userId?: number): Promise<{ removed: string[] }> {
  const rows = await ctx.db
    .selectFrom("uploads")
    .selectAll()
    .$if(userId !== undefined, (q) => q.where("user_id", "=", userId!))
    .orderBy("created_at")
    .limit(10_000)
    .execute();
  const removed: string[] = [];
  const expired = ctx.now() - ctx.limits.uploadGraceMs;
  for (const row of rows) {
    const used = await referenced(ctx.db, row.sha256);
    if (!used && row.created_at > expired) continue;
    if (!used) {
      // the file goes first (a failure leaves the record to try again), unless another user's upload of
      // the same content still waits for its build
      const waiting = await ctx.db
        .selectFrom("uploads")
        .select("user_id")
        .where("sha256", "=", row.sha256)
        .where("user_id", "!=", row.user_id)
        .where("created_at", ">", expired)
        .limit(1)
        .executeTakeFirst();
      if (!waiting && (await ctx.store.remove(row.sha256))) removed.push(row.sha256);
    }
    await ctx.db.deleteFrom("uploads").where("sha256", "=", row.sha256).where("user_id", "=", row.user_id).execute();
  }
  if (removed.length) ctx.logger.info({ removed: removed.length }, "removed uploads no build used");
  return { removed };
}
