import type { Kysely } from "kysely";
import { activeStates, capabilityOf } from "../../api/tasks.js";
import type { Database } from "../../db/schema.js";
import { orchestratorError } from "../../errors.js";
import { hashToken, newToken, type Permission, type Principal, permissions } from "../auth.js";
import type { HubContext } from "../context.js";
import { recordEvent } from "../events.js";
import * as transition from "../tasks/transitions.js";
import { checkName } from "../validate.js";

/* Users, their permissions and API tokens. Every change is one transaction that also appends to the event
 * log, and clears the hub's cache of checked tokens. */

export async function createUser(ctx: HubContext, actor: Principal | null, name: string, perms: string[] = []): Promise<number> {
  checkName(name, "user");
  for (const perm of perms) checkPermission(perm);
  if (await ctx.db.selectFrom("users").select("id").where("name", "=", name).executeTakeFirst())
    throw orchestratorError("ALREADY_EXISTS", `user '${name}' exists already`);
  const id = await ctx.db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto("users")
      .values({ name, created_at: ctx.now(), disabled: 0 })
      .returning("id")
      .executeTakeFirstOrThrow();
    for (const perm of perms) await trx.insertInto("permissions").values({ user_id: row.id, perm }).execute();
    await recordEvent(
      trx,
      { userId: actor?.userId ?? null, kind: "user.created", objectType: "user", objectId: row.id, data: { name, perms } },
      ctx.now(),
    );
    return row.id;
  });
  ctx.bus.ping();
  return id;
}

function checkPermission(perm: string): Permission {
  if (!(permissions as readonly string[]).includes(perm))
    throw orchestratorError("REQUEST_INVALID", `unknown permission '${perm.slice(0, 40)}'; expected one of ${permissions.join(", ")}`);
  return perm as Permission;
}

async function userId(db: Kysely<Database>, name: string): Promise<number> {
  checkName(name, "user");
  const row = await db.selectFrom("users").select("id").where("name", "=", name).executeTakeFirst();
  if (!row) throw orchestratorError("NOT_FOUND", `user '${name}' does not exist`);
  return row.id;
}

export async function grant(ctx: HubContext, actor: Principal, name: string, perm: string, revoke = false): Promise<void> {
  checkPermission(perm);
  const id = await userId(ctx.db, name);
  await ctx.db.transaction().execute(async (trx) => {
    if (revoke) await trx.deleteFrom("permissions").where("user_id", "=", id).where("perm", "=", perm).execute();
    else
      await trx
        .insertInto("permissions")
        .values({ user_id: id, perm })
        .onConflict((oc) => oc.columns(["user_id", "perm"]).doNothing())
        .execute();
    await recordEvent(
      trx,
      { userId: actor.userId, kind: revoke ? "user.revoked" : "user.granted", objectType: "user", objectId: id, data: { name, perm } },
      ctx.now(),
    );
  });
  ctx.principals.clear();
  ctx.bus.ping();
}

/** A new API token for a user; the clear text is returned once and only its hash is kept. */
export async function createToken(
  ctx: HubContext,
  actor: Principal | null,
  name: string,
  label = "",
  expiresAt: number | null = null,
): Promise<{ token: string; id: number; expiresAt: number | null }> {
  const id = await userId(ctx.db, name);
  if (expiresAt !== null && expiresAt <= ctx.now())
    throw orchestratorError("REQUEST_INVALID", "expiresAt lies in the past", { details: { field: "expiresAt" } });
  if (actor && actor.userId !== id && !actor.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", "only an admin can create tokens for another user");
  const token = newToken();
  const row = await ctx.db.transaction().execute(async (trx) => {
    const inserted = await trx
      .insertInto("tokens")
      .values({
        user_id: id,
        hash: hashToken(token),
        label: label.slice(0, 200),
        created_at: ctx.now(),
        last_used_at: null,
        revoked: 0,
        expires_at: expiresAt,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    await recordEvent(
      trx,
      { userId: actor?.userId ?? null, kind: "token.created", objectType: "user", objectId: id, data: { name, token: inserted.id, label } },
      ctx.now(),
    );
    return inserted;
  });
  ctx.bus.ping();
  return { token, id: row.id, expiresAt };
}

/** A user's tokens (never their hashes): the user itself or an admin may list them. */
export async function listTokens(ctx: HubContext, actor: Principal, name: string) {
  const id = await userId(ctx.db, name);
  if (actor.userId !== id && !actor.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", "only an admin can list another user's tokens");
  const rows = await ctx.db
    .selectFrom("tokens")
    .select(["id", "label", "created_at", "last_used_at", "revoked", "expires_at"])
    .where("user_id", "=", id)
    .orderBy("id")
    .execute();
  return rows.map((t) => ({
    id: t.id,
    label: t.label,
    createdAt: t.created_at,
    lastUsedAt: t.last_used_at,
    revoked: t.revoked === 1,
    expiresAt: t.expires_at,
  }));
}

/**
 * Revoke a token at once: the token's owner or an admin. This hub forgets its cached tokens; other hubs on
 * the same database stop accepting it within their cache's lifetime (5 s). Web sessions using it end.
 */
export async function revokeToken(ctx: HubContext, actor: Principal, tokenId: number): Promise<{ id: number; user: string }> {
  const token = await ctx.db
    .selectFrom("tokens")
    .innerJoin("users", "users.id", "tokens.user_id")
    .select(["tokens.id", "tokens.user_id", "tokens.revoked", "users.name"])
    .where("tokens.id", "=", tokenId)
    .executeTakeFirst();
  if (!token) throw orchestratorError("NOT_FOUND", `token ${tokenId} does not exist`);
  if (token.user_id !== actor.userId && !actor.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", "only an admin can revoke another user's token");
  if (token.revoked === 0)
    await ctx.db.transaction().execute(async (trx) => {
      await trx.updateTable("tokens").set({ revoked: 1 }).where("id", "=", tokenId).execute();
      await recordEvent(
        trx,
        {
          userId: actor.userId,
          kind: "token.revoked",
          objectType: "user",
          objectId: token.user_id,
          data: { name: token.name, token: tokenId },
        },
        ctx.now(),
      );
    });
  ctx.principals.clear();
  ctx.bus.ping();
  return { id: tokenId, user: token.name };
}

/**
 * Disable (or enable again) a user: none of its tokens is accepted while it is disabled, and the tasks its
 * builder hosts hold are freed at once (their builders can no longer report). The last enabled admin
 * cannot be disabled.
 */
export async function setUserDisabled(
  ctx: HubContext,
  actor: Principal,
  name: string,
  disabled: boolean,
): Promise<{ user: string; disabled: boolean; freed: number[] }> {
  const id = await userId(ctx.db, name);
  const now = ctx.now();
  const freed = await ctx.db.transaction().execute(async (trx) => {
    if (disabled) {
      const admins = await trx
        .selectFrom("permissions")
        .innerJoin("users", "users.id", "permissions.user_id")
        .select("users.id")
        .where("permissions.perm", "=", "admin")
        .where("users.disabled", "=", 0)
        .execute();
      if (admins.length === 1 && admins[0]?.id === id)
        throw orchestratorError("PERMISSION_DENIED", `user '${name}' is the last enabled admin; disabling it would lock everyone out`, {
          hint: "grant admin to another user first",
        });
    }
    await trx
      .updateTable("users")
      .set({ disabled: disabled ? 1 : 0 })
      .where("id", "=", id)
      .execute();
    const tasks: { id: number; arch: string | null; method: string }[] = [];
    if (disabled) {
      const held = await trx
        .selectFrom("tasks")
        .innerJoin("hosts", "hosts.id", "tasks.host_id")
        .select(["tasks.id", "tasks.arch", "tasks.method"])
        .where("hosts.user_id", "=", id)
        .where("tasks.state", "in", [...activeStates])
        .execute();
      tasks.push(...(await transition.freeAll(trx, ctx, held, { reason: "user-disabled", userId: actor.userId, counted: false })));
    }
    await recordEvent(
      trx,
      { userId: actor.userId, kind: disabled ? "user.disabled" : "user.enabled", objectType: "user", objectId: id, data: { name } },
      now,
    );
    return tasks;
  });
  ctx.principals.clear();
  for (const task of freed) ctx.dispatcher.wake(task.arch, capabilityOf(task.method));
  ctx.bus.ping();
  return { user: name, disabled, freed: freed.map((t) => t.id) };
}

export async function listUsers(db: Kysely<Database>) {
  const users = await db.selectFrom("users").selectAll().orderBy("name").execute();
  const perms = await db.selectFrom("permissions").selectAll().execute();
  return users.map((u) => ({
    id: u.id,
    name: u.name,
    disabled: u.disabled === 1,
    perms: perms
      .filter((p) => p.user_id === u.id)
      .map((p) => p.perm)
      .sort(),
  }));
}
