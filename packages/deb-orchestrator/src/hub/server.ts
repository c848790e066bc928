import Fastify, { type FastifyInstance } from "fastify";
import type { HubContext } from "./context.js";
import { checkPermissions } from "./http/auth-hooks.js";
import { checkResponsesFromEnvironment, registerContractHooks } from "./http/contract-hooks.js";
import { replyWithCodedErrors } from "./http/errors.js";
import { collectRoutes, type OpenApiRoute, serveOpenApi } from "./http/openapi.js";
import { addSecurityHeaders } from "./http/security.js";
import { artifactRoutes } from "./routes/artifacts.js";
import { builderRoutes } from "./routes/builders.js";
import { buildRoutes } from "./routes/builds.js";
import { eventRoutes } from "./routes/events.js";
import { healthRoutes } from "./routes/health.js";
import { identityRoutes } from "./routes/identity.js";
import { repositoryRoutes } from "./routes/repositories.js";
import { tagRoutes } from "./routes/tags.js";
import { targetRoutes } from "./routes/targets.js";
import { taskRoutes } from "./routes/tasks.js";
import { webhookRoutes } from "./routes/webhooks.js";

export interface ServerOptions {
  /** Let requests without a token read (GET) the API; mutations always need a token. */
  publicRead: boolean;
  /** Largest JSON body accepted. */
  bodyLimit: number;
  logger?: object | false;
  /** Check every JSON answer against the API contract (default: DEB_ORCHESTRATOR_CHECK_RESPONSES=1). */
  checkResponses?: boolean;
}

/**
 * The hub's HTTP API: authentication, permissions, coded errors and security headers for every route
 * (http/), then the routes of each resource (routes/), each a list of handlers calling into the hub's
 * modules. The routes are collected as they are registered for the OpenAPI document.
 */
export async function buildServer(ctx: HubContext, options: ServerOptions): Promise<{ app: FastifyInstance; routes: OpenApiRoute[] }> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: "array", allErrors: false } },
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  const routes = collectRoutes(app);
  app.addContentTypeParser("application/octet-stream", (_request, payload, done) => done(null, payload));
  checkPermissions(app, ctx, options);
  addSecurityHeaders(app);
  replyWithCodedErrors(app, ctx);
  registerContractHooks(app, { checkResponses: options.checkResponses ?? checkResponsesFromEnvironment(), logger: ctx.logger });

  await app.register(healthRoutes, { ctx });
  serveOpenApi(app);
  for (const plugin of [
    identityRoutes,
    tagRoutes,
    targetRoutes,
    buildRoutes,
    taskRoutes,
    artifactRoutes,
    builderRoutes,
    eventRoutes,
    webhookRoutes,
    repositoryRoutes,
  ])
    await app.register(plugin, { ctx });
  return { app, routes };
}
