import type { FastifyPluginAsync } from "fastify";
import type { ComposeImage, ComposePackage, ComposePhaseStatus, ComposeStatus } from "../../api/composes.js";
import { renewCompose } from "../catalog/compose-leases.js";
import { composePhaseLog, composeSbom, describeCompose, listComposes } from "../catalog/compose-views.js";
import { createCompose, finishCompose, reportComposePhase } from "../catalog/composes.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";
import { contractRoutes } from "../http/contract-route.js";

/** Composes: recorded as deb-bootc-compose runs them, listed, described; their SBOM and phase logs. */
export const composeRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  const route = contractRoutes(app);
  route<{ Body: { id: string; name: string; definition: string; phases?: string[] } }>("createCompose", async (request, reply) =>
    reply.status(201).send(await createCompose(ctx, caller(request), request.body)),
  );
  route<{ Querystring: { name?: string; status?: string; limit?: number } }>("listComposes", async (request) =>
    listComposes(ctx.db, request.query),
  );
  route<{ Params: { id: string } }>("getCompose", async (request) => describeCompose(ctx.db, request.params.id));
  route<{ Params: { id: string } }>("getComposeSbom", async (request) => composeSbom(ctx.db, request.params.id));
  route<{ Params: { id: string; phase: string } }>("readComposePhaseLog", async (request, reply) => {
    const log = await composePhaseLog(ctx.db, request.params.id, request.params.phase);
    return reply.header("content-type", "text/plain; charset=utf-8").send(log);
  });
  route<{
    Params: { id: string; phase: string };
    Body: { status: ComposePhaseStatus; startedAt?: number; completedAt?: number; error?: { code: string; message: string }; log?: string };
  }>("reportComposePhase", async (request) =>
    reportComposePhase(ctx, caller(request), request.params.id, request.params.phase, request.body),
  );
  route<{ Params: { id: string } }>("renewCompose", async (request) => renewCompose(ctx, caller(request), request.params.id));
  route<{
    Params: { id: string };
    Body: { status: ComposeStatus; images?: ComposeImage[]; packages?: ComposePackage[]; sbom?: Record<string, unknown>; diff?: unknown };
  }>("finishCompose", async (request) => finishCompose(ctx, caller(request), request.params.id, request.body), {
    // the SBOM of every image and the package lists: larger than the other requests
    bodyLimit: 64 * 1024 * 1024,
  });
};
