/** Who is asking: health, the OpenAPI document, users, permissions and API tokens. */
import { z } from "zod";
import { created, idParams, name, nameParams, ok, operations, permissions, rowId, time } from "./operation.js";

const permission = z.enum(permissions);

export const userView = z.object({ id: rowId, name: z.string(), disabled: z.boolean(), perms: z.array(z.string()) });
export type UserView = z.infer<typeof userView>;

export const tokenView = z.object({
  id: rowId,
  label: z.string(),
  createdAt: time,
  lastUsedAt: time.nullable(),
  revoked: z.boolean(),
  expiresAt: time.nullable(),
});
export type TokenView = z.infer<typeof tokenView>;

const userState = z.object({ user: z.string(), disabled: z.boolean(), freed: z.array(rowId) });

export const identityOperations = operations({
  health: {
    method: "GET",
    path: "/api/v1/health",
    summary: "Liveness and database check",
    response: z.object({ ok: z.literal(true), dialect: z.enum(["sqlite", "postgres"]) }),
  },
  openApi: {
    method: "GET",
    path: "/api/v1/openapi.json",
    summary: "This API's OpenAPI document",
    response: z.looseObject({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) }),
  },
  whoami: {
    method: "GET",
    path: "/api/v1/whoami",
    permission: "any",
    summary: "The token's user and permissions",
    response: z.object({ name: z.string(), perms: z.array(z.string()) }),
  },
  listUsers: { method: "GET", path: "/api/v1/users", permission: "admin", summary: "List users", response: z.array(userView) },
  createUser: {
    method: "POST",
    path: "/api/v1/users",
    permission: "admin",
    summary: "Create a user",
    body: z.object({ name, perms: z.array(permission).max(5).optional() }),
    status: 201,
    response: created,
  },
  grantPermission: {
    method: "POST",
    path: "/api/v1/users/:name/permissions",
    permission: "admin",
    summary: "Grant (or revoke) a permission",
    params: nameParams,
    body: z.object({ perm: permission, revoke: z.boolean().optional() }),
    response: ok,
  },
  createToken: {
    method: "POST",
    path: "/api/v1/users/:name/tokens",
    permission: "any",
    summary: "Create an API token (shown once); expiresAt (ms since the epoch) ends it",
    params: nameParams,
    body: z.object({ label: z.string().min(1).max(200).optional(), expiresAt: z.number().int().min(1).optional() }).optional(),
    status: 201,
    response: z.object({ token: z.string(), id: rowId, expiresAt: time.nullable() }),
  },
  listTokens: {
    method: "GET",
    path: "/api/v1/users/:name/tokens",
    permission: "any",
    summary: "A user's API tokens (id, label, times, revoked; never the token)",
    params: nameParams,
    response: z.array(tokenView),
  },
  revokeToken: {
    method: "POST",
    path: "/api/v1/tokens/:id/revoke",
    permission: "any",
    summary: "Revoke an API token (its owner or an admin); refused from now on",
    params: idParams,
    response: z.object({ ok: z.literal(true), id: rowId, user: z.string() }),
  },
  disableUser: {
    method: "POST",
    path: "/api/v1/users/:name/disable",
    permission: "admin",
    summary: "Disable a user: its tokens are refused and its builders' tasks freed (not the last admin)",
    params: nameParams,
    response: userState,
  },
  enableUser: {
    method: "POST",
    path: "/api/v1/users/:name/enable",
    permission: "admin",
    summary: "Enable a disabled user again",
    params: nameParams,
    response: userState,
  },
});
