import { createHash } from "node:crypto";
import type { Kysely, Transaction } from "kysely";
import {
  type ComposeImage,
  type ComposePackage,
  type ComposePhaseStatus,
  type ComposePublished,
  type ComposeStatus,
  type ComposeSummary,
  composeLogLimit,
} from "../../api/composes.js";
import type { Database } from "../../db/schema.js";
import { orchestratorError } from "../../errors.js";
import type { Principal } from "../auth.js";
import type { HubContext } from "../context.js";
import { recordEvent, recordEvents } from "../events.js";
import { cancelComposeImages } from "../tasks/methods/compose-image.js";
import { composeSummary, findCompose, userName } from "./compose-views.js";

/* Composes as deb-bootc-compose reports them: created when they start, their phases as they run, their
 * results (images, packages with the builds they came from, SBOM, package diff) when they end. Only the
 * user who created a compose (or an admin) reports on it, and only while it runs. Reading them:
 * compose-views.ts. */

export async function createCompose(
  ctx: HubContext,
  actor: Principal,
  spec: { id: string; name: string; definition: string; phases?: string[] },
): Promise<ComposeSummary> {
  if (await ctx.db.selectFrom("composes").select("id").where("compose_id", "=", spec.id).executeTakeFirst())
    throw orchestratorError("ALREADY_EXISTS", `compose '${spec.id}' exists already`);
  const now = ctx.now();
  const phases = [...new Set(spec.phases ?? [])];
  const row = await ctx.db.transaction().execute(async (trx) => {
    const inserted = await trx
      .insertInto("composes")
      .values({
        compose_id: spec.id,
        name: spec.name,
        definition_hash: createHash("sha256").update(spec.definition).digest("hex"),
        definition: spec.definition,
        status: "STARTED",
        owner_id: actor.userId,
        started_at: now,
        completed_at: null,
        sbom: null,
        diff: null,
        published: null,
        lease_expires: now + ctx.leaseMs,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    if (phases.length)
      await trx
        .insertInto("compose_phases")
        .values(
          phases.map((name, position) => ({
            compose_id: inserted.id,
            name,
            position,
            status: "pending",
            started_at: null,
            completed_at: null,
            error: null,
            log: null,
          })),
        )
        .execute();
    await recordEvent(
      trx,
      {
        userId: actor.userId,
        kind: "compose.state",
        objectType: "compose",
        objectId: inserted.id,
        data: { compose: spec.id, status: "STARTED" },
      },
      now,
    );
    return inserted;
  });
  ctx.bus.ping();
  return composeSummary(row, actor.name);
}

/** The compose a report is about, when the actor may still change it. */
export async function runningCompose(db: Kysely<Database> | Transaction<Database>, actor: Principal, composeId: string) {
  const row = await findCompose(db as Kysely<Database>, composeId);
  if (row.owner_id !== actor.userId && !actor.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", `compose '${composeId}' belongs to another user`);
  if (row.status !== "STARTED") throw orchestratorError("COMPOSE_STATE", `compose '${composeId}' has ended (${row.status})`);
  return row;
}

/** Keep the end of a log that is too long (the contract caps it; this guards direct callers). */
function logTail(log: string): string {
  return log.length > composeLogLimit ? log.slice(log.length - composeLogLimit) : log;
}

export async function reportComposePhase(
  ctx: HubContext,
  actor: Principal,
  composeId: string,
  phase: string,
  report: { status: ComposePhaseStatus; startedAt?: number; completedAt?: number; error?: { code: string; message: string }; log?: string },
): Promise<{ ok: true }> {
  const now = ctx.now();
  await ctx.db.transaction().execute(async (trx) => {
    const compose = await runningCompose(trx, actor, composeId);
    await trx
      .updateTable("composes")
      .set({ lease_expires: now + ctx.leaseMs })
      .where("id", "=", compose.id)
      .execute();
    const values = {
      status: report.status,
      started_at: report.startedAt ?? (report.status === "running" ? now : null),
      completed_at: report.completedAt ?? (report.status === "running" || report.status === "pending" ? null : now),
      error: report.error ? JSON.stringify(report.error) : null,
      ...(report.log === undefined ? {} : { log: logTail(report.log) }),
    };
    const existing = await trx
      .selectFrom("compose_phases")
      .select(["name", "started_at"])
      .where("compose_id", "=", compose.id)
      .where("name", "=", phase)
      .executeTakeFirst();
    if (existing)
      await trx
        .updateTable("compose_phases")
        .set({ ...values, started_at: values.started_at ?? undefined })
        .where("compose_id", "=", compose.id)
        .where("name", "=", phase)
        .execute();
    else {
      const last = await trx
        .selectFrom("compose_phases")
        .select((eb) => eb.fn.max("position").as("p"))
        .where("compose_id", "=", compose.id)
        .executeTakeFirst();
      const position = last?.p === null || last?.p === undefined ? 0 : Number(last.p) + 1;
      await trx
        .insertInto("compose_phases")
        .values({ compose_id: compose.id, name: phase, position, log: null, ...values })
        .execute();
    }
    await recordEvent(
      trx,
      {
        userId: actor.userId,
        kind: "compose.phase",
        objectType: "compose",
        objectId: compose.id,
        // the phase's times as recorded, so that an open compose page shows them without a reload
        data: {
          compose: composeId,
          phase,
          status: report.status,
          startedAt: values.started_at ?? (existing?.started_at === null || existing === undefined ? null : Number(existing.started_at)),
          completedAt: values.completed_at,
        },
      },
      now,
    );
  });
  ctx.bus.ping();
  return { ok: true };
}

/**
 * A compose that ends closes the phases still running (interrupted, or failed), each with a compose.phase
 * event as its client's report would have, so that an open compose page shows them ended.
 */
export async function closeRunningPhases(
  trx: Transaction<Database>,
  compose: { id: number; composeId: string; userId: number | null },
  status: "interrupted" | "failed",
  now: number,
  error?: { code: string; message: string },
): Promise<void> {
  const running = await trx
    .updateTable("compose_phases")
    .set({ status, completed_at: now, ...(error ? { error: JSON.stringify(error) } : {}) })
    .where("compose_id", "=", compose.id)
    .where("status", "=", "running")
    .returning(["name", "started_at"])
    .execute();
  await recordEvents(
    trx,
    running.map((phase) => ({
      userId: compose.userId,
      kind: "compose.phase",
      objectType: "compose",
      objectId: compose.id,
      data: {
        compose: compose.composeId,
        phase: phase.name,
        status,
        startedAt: phase.started_at === null ? null : Number(phase.started_at),
        completedAt: now,
      },
    })),
    now,
  );
}

/** Insert rows in slices (each database caps the parameters of one statement). */
async function insertInSlices<T>(rows: readonly T[], insert: (slice: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) await insert(rows.slice(i, i + 500));
}

export async function finishCompose(
  ctx: HubContext,
  actor: Principal,
  composeId: string,
  result: {
    status: ComposeStatus;
    images?: ComposeImage[];
    packages?: ComposePackage[];
    sbom?: Record<string, unknown>;
    diff?: unknown;
    published?: ComposePublished;
  },
) {
  const now = ctx.now();
  const images = result.images ?? [];
  const packages = result.packages ?? [];
  const row = await ctx.db.transaction().execute(async (trx) => {
    const compose = await runningCompose(trx, actor, composeId);
    // a package names a build of this hub only when it has that build: another hub's ids mean nothing here
    const named = [...new Set(packages.flatMap((p) => (p.build === null ? [] : [p.build])))];
    const known = new Set<number>();
    for (let i = 0; i < named.length; i += 500) {
      const found = await trx
        .selectFrom("builds")
        .select("id")
        .where("id", "in", named.slice(i, i + 500))
        .execute();
      for (const b of found) known.add(b.id);
    }
    await insertInSlices(images, (slice) =>
      trx
        .insertInto("compose_images")
        .values(
          slice.map((image) => ({
            compose_id: compose.id,
            variant: image.variant,
            arch: image.arch,
            kind: image.kind,
            path: image.path,
            digest: image.digest,
            size: image.size,
          })),
        )
        .onConflict((oc) => oc.columns(["compose_id", "path"]).doNothing())
        .execute(),
    );
    await insertInSlices(packages, (slice) =>
      trx
        .insertInto("compose_packages")
        .values(
          slice.map((p) => ({
            compose_id: compose.id,
            variant: p.variant,
            arch: p.arch,
            name: p.name,
            version: p.version,
            package_arch: p.packageArch,
            build_id: p.build !== null && known.has(p.build) ? p.build : null,
          })),
        )
        .onConflict((oc) => oc.columns(["compose_id", "variant", "arch", "name"]).doNothing())
        .execute(),
    );
    await cancelComposeImages(trx, ctx, composeId, actor.userId);
    // phases the compose never reported are left as they were: pending ones did not run
    await closeRunningPhases(
      trx,
      { id: compose.id, composeId, userId: actor.userId },
      result.status === "TERMINATED" ? "interrupted" : "failed",
      now,
    );
    const updated = await trx
      .updateTable("composes")
      .set({
        status: result.status,
        completed_at: now,
        lease_expires: null,
        sbom: result.sbom === undefined ? null : JSON.stringify(result.sbom),
        diff: result.diff === undefined || result.diff === null ? null : JSON.stringify(result.diff),
        published: result.published === undefined ? null : JSON.stringify(result.published),
      })
      .where("id", "=", compose.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordEvent(
      trx,
      {
        userId: actor.userId,
        kind: "compose.state",
        objectType: "compose",
        objectId: compose.id,
        data: { compose: composeId, status: result.status },
      },
      now,
    );
    return updated;
  });
  ctx.bus.ping();
  return { ...composeSummary(row, await userName(ctx.db, row.owner_id)), packages: packages.length, images: images.length };
}
