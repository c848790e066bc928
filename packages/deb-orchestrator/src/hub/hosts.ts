import type { Kysely, Selectable } from "kysely";
import { activeStates, defaultCapabilities } from "../api/tasks.js";
import type { Database, HostsTable } from "../db/schema.js";
import { orchestratorError } from "../errors.js";
import type { Principal } from "./auth.js";
import type { HubContext } from "./context.js";
import { recordEvent } from "./events.js";
import { wakeFor } from "./tasks/scheduler.js";
import * as transition from "./tasks/transitions.js";
import { checkArch, checkName } from "./validate.js";

/*
 * Builder hosts: created by their first check-in, owned by the token's user, enabled or disabled by an
 * admin; online while they check in; loaded with the weights of the tasks they hold.
 */

export type HostRow = Selectable<HostsTable>;

/** What never changes about a host once it exists: enough for the builder's task reports. */
export type HostIdentity = Pick<HostRow, "id" | "name" | "user_id">;

export interface CheckinRequest {
  session: string;
  arches: string[];
  capabilities?: string[];
  capacity: number;
  load?: number;
}

/**
 * A builder announces itself. The first check-in of a name creates the host (owned by the token's user);
 * a check-in with a new session means the builder restarted, so every task its previous session held is
 * freed at once instead of waiting for the lease to lapse.
 */
export async function checkin(
  ctx: HubContext,
  principal: Principal,
  name: string,
  request: CheckinRequest,
): Promise<{ host: HostRow; freed: number[] }> {
  checkName(name, "host");
  for (const arch of request.arches) checkArch(arch);
  const now = ctx.now();
  const result = await ctx.db.transaction().execute(async (trx) => {
    let host = await trx.selectFrom("hosts").selectAll().where("name", "=", name).executeTakeFirst();
    if (host && host.user_id !== principal.userId && !principal.perms.has("admin"))
      throw orchestratorError("PERMISSION_DENIED", `host '${name}' belongs to another user than '${principal.name}'`);
    const values = {
      arches: request.arches.join(" "),
      capabilities: [...new Set(request.capabilities ?? defaultCapabilities)].sort().join(" "),
      capacity: request.capacity,
      last_checkin: now,
      load: request.load ?? 0,
      session: request.session,
    };
    if (!host) {
      host = await trx
        .insertInto("hosts")
        .values({ name, user_id: principal.userId, enabled: 1, created_at: now, ...values })
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordEvent(
        trx,
        { userId: principal.userId, kind: "host.created", objectType: "host", objectId: host.id, data: { name, arches: request.arches } },
        now,
      );
    } else {
      const previous = host.session;
      await trx.updateTable("hosts").set(values).where("id", "=", host.id).execute();
      host = { ...host, ...values };
      if (previous !== request.session) {
        const orphans = await trx
          .selectFrom("tasks")
          .select(["id", "arch", "method"])
          .where("host_id", "=", host.id)
          .where("state", "in", [...activeStates])
          .execute();
        const freed = await transition.freeAll(trx, ctx, orphans, { reason: "host-restarted", userId: principal.userId, counted: true });
        return { host, freed };
      }
    }
    return { host, freed: [] as { id: number; arch: string | null; method: string }[] };
  });
  wakeFor(ctx, result.freed);
  ctx.bus.ping();
  return { host: result.host, freed: result.freed.map((t) => t.id) };
}

const identities = new WeakMap<HubContext, Map<string, HostIdentity>>();

/**
 * The host's identity for a report about one of its tasks (start, complete, fail, release, logs), checked
 * against the token's user like hostForPrincipal but read once per hub process: hosts are never renamed,
 * deleted or given to another user, and every report checks the task's session itself.
 */
export async function hostIdentity(ctx: HubContext, principal: Principal, name: string): Promise<HostIdentity> {
  let known = identities.get(ctx);
  if (!known) {
    known = new Map();
    identities.set(ctx, known);
  }
  let host = known.get(name);
  if (!host) {
    const row = await hostForPrincipal(ctx, principal, name);
    host = { id: row.id, name: row.name, user_id: row.user_id };
    if (known.size > 10_000) known.clear();
    known.set(name, host);
  }
  if (host.user_id !== principal.userId && !principal.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", `host '${name}' belongs to another user than '${principal.name}'`);
  return host;
}

export async function hostForPrincipal(ctx: HubContext, principal: Principal, name: string): Promise<HostRow> {
  const host = await ctx.db.selectFrom("hosts").selectAll().where("name", "=", name).executeTakeFirst();
  if (!host) throw orchestratorError("NOT_FOUND", `host '${name}' has not checked in`, { hint: "the builder must check in first" });
  if (host.user_id !== principal.userId && !principal.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", `host '${name}' belongs to another user than '${principal.name}'`);
  return host;
}

/**
 * A builder that stops checks out: every task its session holds that it does not name in `keep` (the
 * tasks still running through its grace time) is freed at once, so a claim answered while the builder
 * was stopping never waits for its lease. Not counted in the tasks' attempts. A session that is not the
 * host's current one changes nothing (a newer builder process owns the host now).
 */
export async function checkout(ctx: HubContext, host: HostRow, session: string, keep: readonly number[] = []): Promise<number[]> {
  if (host.session !== session) return [];
  const now = ctx.now();
  const freed = await ctx.db.transaction().execute(async (trx) => {
    let query = trx
      .selectFrom("tasks")
      .select(["id", "arch", "method"])
      .where("host_id", "=", host.id)
      .where("session", "=", session)
      .where("state", "in", [...activeStates]);
    if (keep.length) query = query.where("id", "not in", [...keep]);
    const held = await query.execute();
    const done = await transition.freeAll(trx, ctx, held, {
      reason: "builder-stopped",
      userId: host.user_id,
      counted: false,
      session,
    });
    await trx.updateTable("hosts").set({ last_checkin: now, load: keep.length }).where("id", "=", host.id).execute();
    return done;
  });
  wakeFor(ctx, freed);
  ctx.bus.ping();
  return freed.map((t) => t.id);
}

export async function setHostEnabled(ctx: HubContext, principal: Principal, name: string, enabled: boolean): Promise<void> {
  const host = await ctx.db.selectFrom("hosts").select("id").where("name", "=", name).executeTakeFirst();
  if (!host) throw orchestratorError("NOT_FOUND", `host '${name}' does not exist`);
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .updateTable("hosts")
      .set({ enabled: enabled ? 1 : 0 })
      .where("id", "=", host.id)
      .execute();
    await recordEvent(
      trx,
      { userId: principal.userId, kind: enabled ? "host.enabled" : "host.disabled", objectType: "host", objectId: host.id, data: { name } },
      ctx.now(),
    );
  });
  if (enabled) ctx.dispatcher.wakeAll();
  ctx.bus.ping();
}

/** A builder is online when it checked in within two lease periods (the web pages and `why` both ask). */
export function isOnline(ctx: Pick<HubContext, "leaseMs">, lastCheckin: number | null, now: number): boolean {
  return lastCheckin !== null && now - lastCheckin < 2 * ctx.leaseMs;
}

/** Each host's load: the sum of the weights of the tasks it holds (what a claim compares with its capacity). */
export async function hostLoads(db: Kysely<Database>, hostIds?: readonly number[]): Promise<Map<number, number>> {
  let query = db
    .selectFrom("tasks")
    .select((eb) => ["host_id", eb.fn.sum<number | string>("weight").as("load")])
    .where("state", "in", [...activeStates]);
  if (hostIds) query = query.where("host_id", "in", [...hostIds]);
  const rows = await query.groupBy("host_id").execute();
  return new Map(rows.filter((r) => r.host_id !== null).map((r) => [r.host_id!, Number(r.load)]));
}

/** GET /api/v1/hosts: every builder host with its load. */
export async function listHosts(db: Kysely<Database>) {
  const hosts = await db.selectFrom("hosts").selectAll().orderBy("name").execute();
  const loads = await hostLoads(db);
  return hosts.map((h) => ({
    name: h.name,
    arches: h.arches.split(" "),
    capabilities: h.capabilities.split(" "),
    capacity: h.capacity,
    enabled: h.enabled === 1,
    lastCheckin: h.last_checkin,
    reportedLoad: h.load,
    tasks: loads.get(h.id) ?? 0,
  }));
}
