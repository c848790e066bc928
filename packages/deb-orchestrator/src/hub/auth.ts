import { createHash, randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import type { Permission } from "../api/operation.js";
import type { Database } from "../db/schema.js";
import { orchestratorError } from "../errors.js";
import { parseCookies, SESSION_COOKIE } from "../web/session.js";

export { type Permission, permissions } from "../api/operation.js";

export interface Principal {
  userId: number;
  name: string;
  perms: ReadonlySet<string>;
  /** The API token it authenticated with (a web session names the token its user logged in with). */
  tokenId?: number;
}

/** Tokens are 32 random bytes; only their sha256 is stored, so a database leak reveals no usable token. */
export function newToken(): string {
  return `dot_${randomBytes(32).toString("base64url")}`;
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * Recently checked tokens, so a builder's stream of requests costs no extra queries. An entry lives
 * `ttlMs` at most; every change to users, tokens or permissions in this hub clears the cache (other hub
 * processes see such a change within the TTL).
 */
export class PrincipalCache {
  private readonly entries = new Map<string, { principal: Principal; expires: number }>();
  constructor(readonly ttlMs = 5000) {}
  get(hash: string): Principal | undefined {
    const entry = this.entries.get(hash);
    if (!entry) return undefined;
    if (entry.expires < Date.now()) {
      this.entries.delete(hash);
      return undefined;
    }
    return entry.principal;
  }
  /** Keep a principal until the TTL or `until` (a token's or session's own expiry), whichever comes first. */
  set(hash: string, principal: Principal, until = Number.POSITIVE_INFINITY): void {
    if (this.entries.size > 10_000) this.entries.clear();
    this.entries.set(hash, { principal, expires: Math.min(Date.now() + this.ttlMs, until) });
  }
  clear(): void {
    this.entries.clear();
  }
}

export async function authenticate(
  db: Kysely<Database>,
  header: string | undefined,
  cache?: PrincipalCache,
): Promise<Principal | undefined> {
  if (header === undefined) return undefined;
  const match = /^Bearer ([A-Za-z0-9_-]{10,200})$/.exec(header.trim());
  if (!match?.[1]) throw orchestratorError("AUTH_REQUIRED", "the Authorization header must be 'Bearer <token>'");
  const hash = hashToken(match[1]);
  const cached = cache?.get(hash);
  if (cached) return cached;
  const row = await db
    .selectFrom("tokens")
    .innerJoin("users", "users.id", "tokens.user_id")
    .select(tokenAndUser)
    .where("tokens.hash", "=", hash)
    .executeTakeFirst();
  if (!row || row.revoked || row.disabled || isPast(row.tokenExpiresAt))
    throw orchestratorError("AUTH_REQUIRED", "unknown, revoked, expired or disabled API token");
  const principal = await principalOf(db, row);
  cache?.set(hash, principal, row.tokenExpiresAt ?? undefined);
  return principal;
}

/** What deciding on a token needs, from `tokens` joined with `users` (API tokens and web sessions). */
export const tokenAndUser = [
  "tokens.id as tokenId",
  "users.id as userId",
  "users.name as name",
  "users.disabled as disabled",
  "tokens.revoked as revoked",
  "tokens.expires_at as tokenExpiresAt",
] as const;

export function isPast(expiresAt: number | null): boolean {
  return expiresAt !== null && expiresAt <= Date.now();
}

export async function principalOf(db: Kysely<Database>, row: { userId: number; name: string; tokenId: number }): Promise<Principal> {
  const perms = await db.selectFrom("permissions").select("perm").where("user_id", "=", row.userId).execute();
  return { userId: row.userId, name: row.name, perms: new Set(perms.map((p) => p.perm)), tokenId: row.tokenId };
}

export function requirePermission(principal: Principal | undefined, perm: Permission): Principal {
  if (!principal) throw orchestratorError("AUTH_REQUIRED", `this endpoint needs an API token with the '${perm}' permission`);
  if (!principal.perms.has(perm) && !principal.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", `user '${principal.name}' lacks the '${perm}' permission`, {
      hint: `an administrator can run: deb-orchestrator grant ${principal.name} ${perm}`,
    });
  return principal;
}

/** Web session ids (the cookie's value) start with this. */
export const SESSION_PREFIX = "dos_";

/** The principal of a session cookie, or undefined for an unknown, expired or closed session. */
export async function sessionPrincipal(
  db: Kysely<Database>,
  value: string | undefined,
  cache?: PrincipalCache,
): Promise<Principal | undefined> {
  if (!value?.startsWith(SESSION_PREFIX) || value.length > 200) return undefined;
  const hash = hashToken(value);
  const key = `session:${hash}`;
  const cached = cache?.get(key);
  if (cached) return cached;
  const row = await db
    .selectFrom("web_sessions")
    .innerJoin("tokens", "tokens.id", "web_sessions.token_id")
    .innerJoin("users", "users.id", "web_sessions.user_id")
    .select([...tokenAndUser, "web_sessions.expires_at as expiresAt"])
    .where("web_sessions.hash", "=", hash)
    .executeTakeFirst();
  if (!row || row.revoked || row.disabled || isPast(row.tokenExpiresAt) || isPast(row.expiresAt)) return undefined;
  const principal = await principalOf(db, row);
  cache?.set(key, principal, Math.min(row.expiresAt, row.tokenExpiresAt ?? Number.POSITIVE_INFINITY));
  return principal;
}

/**
 * Who sent a request: the API token of its Authorization header; else, for a read of the API, the web
 * UI's session cookie, which lets a logged-in browser read the API (its live event stream, download
 * links) on a hub whose reads are private. Only reads: a mutation always needs the Authorization header.
 */
export async function requestPrincipal(
  db: Kysely<Database>,
  request: { method: string; url: string; headers: { authorization?: string; cookie?: string } },
  cache?: PrincipalCache,
): Promise<Principal | undefined> {
  const principal = await authenticate(db, request.headers.authorization, cache);
  if (principal || request.headers.authorization !== undefined || !request.url.startsWith("/api/") || !isRead(request.method))
    return principal;
  return sessionPrincipal(db, parseCookies(request.headers.cookie).get(SESSION_COOKIE), cache);
}

/** HEAD is a GET without the body: it answers sizes and checksums, so it follows GET's rules. */
export function isRead(method: string): boolean {
  return method === "GET" || method === "HEAD";
}
