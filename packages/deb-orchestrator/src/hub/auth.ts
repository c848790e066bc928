import { createHash, randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import type { Permission } from "../api/operation.js";
import type { Database } from "../db/schema.js";
import { orchestratorError } from "../errors.js";

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
