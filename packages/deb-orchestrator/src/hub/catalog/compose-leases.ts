import type { Principal } from "../auth.js";
import type { HubContext } from "../context.js";
import { recordEvent } from "../events.js";
import { cancelComposeImages } from "../tasks/methods/compose-image.js";
import { closeRunningPhases, runningCompose } from "./composes.js";

/*
 * A running compose holds a lease, as a builder's task does: every report of its client renews it, and so
 * does the client's heartbeat between reports (a rootfs phase reports nothing for minutes). A compose
 * whose lease lapsed lost its client (killed, or its machine gone): the hub ends it TERMINATED, the phase
 * that was running interrupted with COMPOSE_ABANDONED, instead of showing it STARTED for ever.
 */

/** The client is still there: renew the compose's lease; the answer says how long it holds. */
export async function renewCompose(ctx: HubContext, actor: Principal, composeId: string): Promise<{ leaseMs: number }> {
  const compose = await runningCompose(ctx.db, actor, composeId);
  await ctx.db
    .updateTable("composes")
    .set({ lease_expires: ctx.now() + ctx.leaseMs })
    .where("id", "=", compose.id)
    .where("status", "=", "STARTED")
    .execute();
  return { leaseMs: ctx.leaseMs };
}

/** End every running compose whose lease lapsed; returns their compose IDs. */
export async function reapAbandonedComposes(ctx: HubContext): Promise<string[]> {
  const now = ctx.now();
  const lapsed = await ctx.db
    .selectFrom("composes")
    .select(["id", "compose_id", "owner_id", "lease_expires"])
    .where("status", "=", "STARTED")
    .where("lease_expires", "<", now)
    .execute();
  const ended: string[] = [];
  for (const compose of lapsed) {
    const done = await ctx.db.transaction().execute(async (trx) => {
      // a report that renewed the lease meanwhile wins
      const updated = await trx
        .updateTable("composes")
        .set({ status: "TERMINATED", completed_at: now, lease_expires: null })
        .where("id", "=", compose.id)
        .where("status", "=", "STARTED")
        .where("lease_expires", "<", now)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) return false;
      await cancelComposeImages(trx, ctx, compose.compose_id, null);
      const silentMs = now - Number(compose.lease_expires) + ctx.leaseMs;
      await closeRunningPhases(trx, { id: compose.id, composeId: compose.compose_id, userId: compose.owner_id }, "interrupted", now, {
        code: "COMPOSE_ABANDONED",
        message: `the compose's client stopped reporting (nothing for ${Math.round(silentMs / 1000)} s): the hub ended it`,
      });
      await recordEvent(
        trx,
        {
          userId: compose.owner_id,
          kind: "compose.state",
          objectType: "compose",
          objectId: compose.id,
          data: { compose: compose.compose_id, status: "TERMINATED", reason: "abandoned" },
        },
        now,
      );
      return true;
    });
    if (done) ended.push(compose.compose_id);
  }
  if (ended.length) {
    ctx.logger.warn({ composes: ended }, "composes abandoned by their clients ended TERMINATED");
    ctx.bus.ping();
  }
  return ended;
}

/** After a hub restart: running composes' clients get one lease to find the hub again. */
export async function extendComposeLeasesAfterStart(ctx: HubContext): Promise<void> {
  await ctx.db
    .updateTable("composes")
    .set({ lease_expires: ctx.now() + ctx.leaseMs })
    .where("status", "=", "STARTED")
    .where("lease_expires", "is not", null)
    .execute();
}
