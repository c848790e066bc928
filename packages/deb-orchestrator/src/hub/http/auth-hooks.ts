import type { FastifyInstance, FastifyRequest } from "fastify";
import { orchestratorError } from "../../errors.js";
import { isRead, type Permission, type Principal, requestPrincipal, requirePermission } from "../auth.js";
import type { HubContext } from "../context.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    /** What a route needs: a permission, any token ("any"), or nothing (a read, unless reads are private). */
    perm?: Permission | "any";
    summary?: string;
  }
}

/**
 * Every request is authenticated first (token or, for reads, the web session) and checked against its
 * route's `perm` before its handler runs.
 */
export function checkPermissions(app: FastifyInstance, ctx: HubContext, options: { publicRead: boolean }): void {
  app.decorateRequest("principal", undefined);
  app.addHook("onRequest", async (request) => {
    request.principal = await requestPrincipal(ctx.db, request, ctx.principals);
  });
  app.addHook("preHandler", async (request) => {
    const perm = request.routeOptions.config.perm;
    if (perm === "any") {
      if (!request.principal) throw orchestratorError("AUTH_REQUIRED", "this endpoint needs an API token");
    } else if (perm) requirePermission(request.principal, perm);
    else if (!options.publicRead && isRead(request.method) && !request.principal && !request.url.startsWith("/api/v1/health"))
      throw orchestratorError("AUTH_REQUIRED", "this hub does not allow anonymous reads");
  });
}

/** The principal of a request whose route requires one (its preHandler checked it). */
export function caller(request: FastifyRequest): Principal {
  return request.principal!;
}
