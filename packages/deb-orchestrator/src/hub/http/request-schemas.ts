/**
 * Fastify validates every request from the API contract: as each route is registered, the JSON schemas of
 * its parameters, query string and JSON body are generated from its route table entry's zod schemas, so a
 * malformed request is a 400 REQUEST_INVALID (http/errors.ts) before any handler runs, and the routes
 * declare nothing of their own. Ajv (Fastify's validator) runs them: it coerces query and path strings
 * to the declared numbers and booleans, which zod would not.
 */
import type { FastifyInstance, RouteOptions } from "fastify";
import { z } from "zod";
import { findRoute, type RouteEntry } from "../../api/routes.js";

/** Fastify's Ajv options: the whole request refused at the first violation; unknown fields refused, not dropped. */
export const requestAjvOptions = { customOptions: { removeAdditional: false, coerceTypes: "array", allErrors: false } } as const;

type RequestSchemas = Pick<NonNullable<RouteOptions["schema"]>, "params" | "querystring" | "body">;

/** Every route registered on the app from now on takes its request schemas from its contract entry. */
export function validateRequestsByContract(app: FastifyInstance): void {
  app.addHook("onRoute", (route) => {
    const method = [route.method].flat()[0] ?? "GET";
    const entry = findRoute(method, route.url) ?? (method === "HEAD" ? findRoute("GET", route.url) : undefined);
    if (!entry) return;
    route.schema = { ...route.schema, ...requestSchemas(entry) };
  });
}

/** The JSON schemas of what an operation takes; a body that is not JSON (uploads, log chunks) is not checked here. */
export function requestSchemas(entry: RouteEntry): RequestSchemas {
  const body = entry.bodyType ? undefined : entry.body;
  return {
    ...(entry.params ? { params: jsonSchema(entry.params) } : {}),
    ...(entry.query ? { querystring: jsonSchema(entry.query) } : {}),
    ...(body ? { body: jsonSchema(body) } : {}),
  };
}

/** One JSON schema object per zod schema: Ajv compiles each object once, so routes sharing one (a name or
 * id parameter) share its validator. */
const generated = new WeakMap<z.ZodType, Record<string, unknown>>();

/**
 * A request schema as JSON schema. Objects are closed (an unknown field is refused, as the answers'
 * check refuses one) unless the contract declares them loose.
 */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const known = generated.get(schema);
  if (known) return known;
  const { $schema: _, ...rest } = z.toJSONSchema(schema, {
    io: "input",
    override: ({ jsonSchema }) => {
      if (jsonSchema.type === "object" && jsonSchema.additionalProperties === undefined) jsonSchema.additionalProperties = false;
    },
  }) as Record<string, unknown>;
  generated.set(schema, rest);
  return rest;
}
