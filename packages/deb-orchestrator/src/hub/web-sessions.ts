import { randomBytes } from "node:crypto";
import { hashToken, type Principal, SESSION_PREFIX } from "./auth.js";
import type { HubContext } from "./context.js";

/*
 * Web sessions are records of their own, not the API token: a browser that logs in with a token gets a
 * random session id (only its sha256 is stored) that lives SESSION_TTL_MS at most, ends at logout, and
 * ends with the token it was opened with (revoked, expired) or its user (disabled).
 */

/** How long a browser stays logged in (no sliding renewal: log in again after). */
export const SESSION_TTL_MS = 12 * 3600 * 1000;

/** Open a session for a principal that just authenticated with its API token; the cookie value is returned once. */
export async function openSession(ctx: HubContext, principal: Principal): Promise<{ value: string; expiresAt: number }> {
  if (principal.tokenId === undefined) throw new Error("a web session is opened with an API token");
  const value = `${SESSION_PREFIX}${randomBytes(32).toString("base64url")}`;
  const now = ctx.now();
  const expiresAt = now + SESSION_TTL_MS;
  // sessions that ran out are forgotten when the next one opens
  await ctx.db.deleteFrom("web_sessions").where("expires_at", "<=", now).execute();
  await ctx.db
    .insertInto("web_sessions")
    .values({ hash: hashToken(value), user_id: principal.userId, token_id: principal.tokenId, created_at: now, expires_at: expiresAt })
    .execute();
  return { value, expiresAt };
}

/** Log out: the session is gone for every hub at once (this one also forgets its cached principals). */
export async function closeSession(ctx: HubContext, value: string): Promise<void> {
  await ctx.db.deleteFrom("web_sessions").where("hash", "=", hashToken(value)).execute();
  ctx.principals.clear();
}
