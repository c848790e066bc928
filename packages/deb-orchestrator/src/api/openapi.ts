/** The hub's OpenAPI 3.1 document, generated from the route table: parameters, bodies and answers. */
import { z } from "zod";
import { errorBody } from "./operation.js";
import { routeTable } from "./routes.js";

function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

function parameters(where: "path" | "query", schema: z.ZodObject | undefined) {
  if (!schema) return [];
  const { properties = {}, required = [] } = jsonSchema(schema, "input") as {
    properties?: Record<string, unknown>;
    required?: string[];
  };
  return Object.entries(properties).map(([key, property]) => ({
    name: key === "*" ? "path" : key,
    in: where,
    required: where === "path" || required.includes(key),
    schema: property,
  }));
}

export function openApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routeTable) {
    const url = route.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}").replace(/\*$/, "{path}");
    const parametersOf = [...parameters("path", route.params), ...parameters("query", route.query)];
    const success = route.response
      ? { description: "success", content: { "application/json": { schema: jsonSchema(route.response, "output") } } }
      : { description: "success", content: { [route.produces ?? "application/octet-stream"]: {} } };
    const requestBody = route.bodyType
      ? { required: true, content: { [route.bodyType]: {} } }
      : route.body
        ? {
            required: !route.body.safeParse(undefined).success,
            content: { "application/json": { schema: jsonSchema(route.body, "input") } },
          }
        : undefined;
    const operation = {
      operationId: route.id,
      summary: route.summary,
      ...(parametersOf.length ? { parameters: parametersOf } : {}),
      ...(requestBody ? { requestBody } : {}),
      ...(route.permission ? { security: [{ token: [] }], "x-permission": route.permission } : {}),
      responses: {
        [String(route.status ?? 200)]: success,
        "4XX": { description: "error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
      },
    };
    paths[url] = { ...(paths[url] ?? {}), [route.method.toLowerCase()]: operation };
  }
  return {
    openapi: "3.1.0",
    info: { title: "deb-orchestrator hub", version: "1" },
    components: {
      securitySchemes: { token: { type: "http", scheme: "bearer" } },
      schemas: { Error: jsonSchema(errorBody, "output") },
    },
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
  };
}
