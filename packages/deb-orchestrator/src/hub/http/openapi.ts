import type { FastifyInstance } from "fastify";

/* The OpenAPI document: built from the routes as they are registered (their schemas, summaries and
 * permissions), so it cannot drift from what the server accepts. */

export interface OpenApiRoute {
  method: string;
  url: string;
  summary?: string;
  perm?: string;
  schema?: Record<string, unknown>;
}

/** Every route registered on the app from now on, as the OpenAPI document needs it. */
export function collectRoutes(app: FastifyInstance): OpenApiRoute[] {
  const routes: OpenApiRoute[] = [];
  app.addHook("onRoute", (route) => {
    if (route.method === "HEAD") return;
    for (const method of [route.method].flat())
      routes.push({
        method,
        url: route.url,
        summary: route.config?.summary,
        perm: route.config?.perm,
        schema: route.schema as Record<string, unknown> | undefined,
      });
  });
  return routes;
}

/** OpenAPI 3.1 document built from the routes' own schemas and summaries. */
export function openApiDocument(routes: readonly OpenApiRoute[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const url = route.url.replace(/:([A-Za-z0-9_]+)/g, "{$1}").replace(/\*$/, "{path}");
    const schema = route.schema ?? {};
    const parameters: unknown[] = [];
    for (const [where, key] of [
      ["path", "params"],
      ["query", "querystring"],
    ] as const) {
      const props = (schema[key] as { properties?: Record<string, object>; required?: string[] } | undefined)?.properties ?? {};
      const required = (schema[key] as { required?: string[] } | undefined)?.required ?? [];
      for (const [paramName, paramSchema] of Object.entries(props))
        parameters.push({ name: paramName, in: where, required: where === "path" || required.includes(paramName), schema: paramSchema });
    }
    if (url.includes("{path}") && !parameters.some((p) => (p as { name: string }).name === "path"))
      parameters.push({ name: "path", in: "path", required: true, schema: { type: "string" } });
    const operation: Record<string, unknown> = {
      summary: route.summary ?? "",
      ...(parameters.length ? { parameters } : {}),
      ...(schema.body ? { requestBody: { required: true, content: { "application/json": { schema: schema.body } } } } : {}),
      ...(route.perm ? { security: [{ token: [] }], "x-permission": route.perm } : {}),
      responses: {
        "2XX": { description: "success" },
        "4XX": { description: "error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
      },
    };
    paths[url] = { ...(paths[url] ?? {}), [route.method.toLowerCase()]: operation };
  }
  const sorted = Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b)));
  return {
    openapi: "3.1.0",
    info: { title: "deb-orchestrator hub", version: "1" },
    components: {
      securitySchemes: { token: { type: "http", scheme: "bearer" } },
      schemas: {
        Error: {
          type: "object",
          required: ["code", "message"],
          properties: { code: { type: "string" }, message: { type: "string" }, hint: { type: "string" }, details: { type: "object" } },
        },
      },
    },
    paths: sorted,
  };
}

/** GET /api/v1/openapi.json: the document of every route registered, at the time it is asked for. */
export function serveOpenApi(app: FastifyInstance, routes: readonly OpenApiRoute[]): void {
  app.get("/api/v1/openapi.json", { config: { summary: "This API's OpenAPI document" } }, async () => openApiDocument(routes));
}
