import type { FastifyInstance } from "fastify";
import { openApiDocument } from "../../api/openapi.js";

/* The routes as they are registered (the web UI takes its own out of the list; a test checks that they
 * and the API contract name the same operations), and the OpenAPI document, made from the contract. */

export interface OpenApiRoute {
  method: string;
  url: string;
  summary?: string;
  perm?: string;
}

/** Every route registered on the app from now on. */
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
      });
  });
  return routes;
}

/** GET /api/v1/openapi.json: the API contract's OpenAPI document (src/api/openapi.ts). */
export function serveOpenApi(app: FastifyInstance): void {
  app.get("/api/v1/openapi.json", { config: { summary: "This API's OpenAPI document" } }, async () => openApiDocument());
}
