import type { FastifyInstance } from "fastify";
import { openApiDocument } from "../../api/openapi.js";
import { hubOperations, type OperationId } from "../../api/routes.js";
import { contractRoutes } from "./contract-route.js";

/* The routes as they are registered (the web UI takes its own out of the list; a test checks that they
 * and the API contract name the same operations), and the OpenAPI document, made from the contract. */

export interface OpenApiRoute {
  method: string;
  url: string;
  summary?: string;
  perm?: string;
  /** The contract operation it was registered from (contract-route.ts). */
  operation?: OperationId;
}

/** Every route registered on the app from now on. */
export function collectRoutes(app: FastifyInstance): OpenApiRoute[] {
  const routes: OpenApiRoute[] = [];
  app.addHook("onRoute", (route) => {
    const operation = route.config?.operation;
    for (const method of [route.method].flat()) {
      // Fastify's own HEAD twin of a GET route carries the GET's config; a HEAD operation is its own route
      if (method === "HEAD" && (operation === undefined || hubOperations[operation].method !== "HEAD")) continue;
      routes.push({ method, url: route.url, summary: route.config?.summary, perm: route.config?.perm, operation });
    }
  });
  return routes;
}

/** GET /api/v1/openapi.json: the API contract's OpenAPI document (src/api/openapi.ts). */
export function serveOpenApi(app: FastifyInstance): void {
  contractRoutes(app)("openApi", async () => openApiDocument());
}
