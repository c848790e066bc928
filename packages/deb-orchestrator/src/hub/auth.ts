import { createHash, randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import { orchestratorError } from "../errors.js";

export const permissions = ["admin", "build", "tag", "repo", "host"] as const;
export type Permission = (typeof permissions)[number];

export interface Principal {
  userId: number;
  name: string;
  perms: ReadonlySet<string>;
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
  set(hash: string, principal: Principal): void {
    if (this.entries.size > 10_000) this.entries.clear();
    this.entries.set(hash, { principal, expires: Date.now() + this.ttlMs });
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
    .select(["users.id as userId", "users.name as name", "users.disabled as disabled", "tokens.revoked as revoked"])
    .where("tokens.hash", "=", hash)
    .executeTakeFirst();
  if (!row || row.revoked || row.disabled) throw orchestratorError("AUTH_REQUIRED", "unknown, revoked or disabled API token");
  const perms = await db.selectFrom("permissions").select("perm").where("user_id", "=", row.userId).execute();
  const principal = { userId: row.userId, name: row.name, perms: new Set(perms.map((p) => p.perm)) };
  cache?.set(hash, principal);
  return principal;
}

export function requirePermission(principal: Principal | undefined, perm: Permission): Principal {
  if (!principal) throw orchestratorError("AUTH_REQUIRED", `this endpoint needs an API token with the '${perm}' permission`);
  if (!principal.perms.has(perm) && !principal.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", `user '${principal.name}' lacks the '${perm}' permission`, {
      hint: `an administrator can run: deb-orchestrator grant ${principal.name} ${perm}`,
    });
  return principal;
}
