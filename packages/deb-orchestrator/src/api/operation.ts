/**
 * An operation of the hub's HTTP API as data: its method, path (Fastify syntax), permission, summary and
 * the zod schemas of what it takes and answers. The route table is a list of these; the server checks its
 * answers against them, the OpenAPI document is generated from them and the HubClient calls them.
 */
import { z } from "zod";

export const permissions = ["admin", "build", "tag", "repo", "host"] as const;
export type Permission = (typeof permissions)[number];

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface Operation {
  readonly method: HttpMethod;
  /** Fastify syntax: `:name` parameters, a trailing `*` for the rest of the path. */
  readonly path: string;
  /** Needed permission; "any" is any valid token; absent: readable without a token on a public-read hub. */
  readonly permission?: Permission | "any";
  readonly summary: string;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  /** A body that is not JSON (uploads, log chunks). */
  readonly bodyType?: "application/octet-stream" | "text/plain";
  /** The success status (200 unless said). */
  readonly status?: number;
  /** The JSON answer; absent when the answer is not JSON (`produces` says what it is). */
  readonly response?: z.ZodType;
  readonly produces?: "application/octet-stream" | "text/plain" | "text/event-stream" | "application/pgp-keys";
}

/** Keeps each operation's literal type, so the client knows its schemas. */
export function operations<const T extends Record<string, Operation>>(table: T): T {
  return table;
}

// shared shapes
export const name = z.string().min(1).max(64);
export const count = z.number().int().min(0);
export const rowId = z
  .number()
  .int()
  .min(1)
  .max(2 ** 31 - 1);
/** Milliseconds since the epoch. */
export const time = z.number();
export const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
/** A file's size in bytes. */
export const size = count.max(Number.MAX_SAFE_INTEGER);
export const nameParams = z.object({ name });
export const idParams = z.object({ id: rowId });
export const ok = z.object({ ok: z.literal(true) });
export const created = z.object({ id: rowId });
/** A queued task's id. */
export const queued = z.object({ task: rowId });
export const errorBody = z.object({
  code: z.string(),
  message: z.string(),
  hint: z.string().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type ErrorBody = z.infer<typeof errorBody>;
