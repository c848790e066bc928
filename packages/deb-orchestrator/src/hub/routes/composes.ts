import type { FastifyPluginAsync } from "fastify";
import type { ComposeImage, ComposePackage, ComposePhaseStatus, ComposeStatus } from "../../api/composes.js";
import { renewCompose } from "../catalog/compose-leases.js";
import {
  composePhaseLog,
  composeSbom,
  createCompose,
  describeCompose,
  finishCompose,
  listComposes,
  reportComposePhase,
} from "../catalog/composes.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";

/** Composes: recorded as deb-bootc-compose runs them, listed, described; their SBOM and phase logs. */
export const composeRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.post<{ Body: { id: string; name: string; definition: string; phases?: string[] } }>(
    "/api/v1/composes",
    {
      config: { perm: "build", summary: "Record a compose that starts: its ID, definition and the phases it will run" },
    },
    async (request, reply) => reply.status(201).send(await createCompose(ctx, caller(request), request.body)),
  );
  app.get<{ Querystring: { name?: string; status?: string; limit?: number } }>(
    "/api/v1/composes",
    {
      config: { summary: "List composes, newest first" },
    },
    async (request) => listComposes(ctx.db, request.query),
  );
  app.get<{ Params: { id: string } }>(
    "/api/v1/composes/:id",
    { config: { summary: "One compose: phases, images, packages with their builds, the package diff" } },
    async (request) => describeCompose(ctx.db, request.params.id),
  );
  app.get<{ Params: { id: string } }>(
    "/api/v1/composes/:id/sbom",
    { config: { summary: "A compose's SBOM: one SPDX document per image (variant.arch)" } },
    async (request) => composeSbom(ctx.db, request.params.id),
  );
  app.get<{ Params: { id: string; phase: string } }>(
    "/api/v1/composes/:id/phases/:phase/log",
    { config: { summary: "A compose phase's log (its tail, when long)" } },
    async (request, reply) => {
      const log = await composePhaseLog(ctx.db, request.params.id, request.params.phase);
      return reply.header("content-type", "text/plain; charset=utf-8").send(log);
    },
  );
  app.put<{
    Params: { id: string; phase: string };
    Body: { status: ComposePhaseStatus; startedAt?: number; completedAt?: number; error?: { code: string; message: string }; log?: string };
  }>(
    "/api/v1/composes/:id/phases/:phase",
    {
      config: { perm: "build", summary: "Report a compose phase: started (running) or ended, with its log" },
    },
    async (request) => reportComposePhase(ctx, caller(request), request.params.id, request.params.phase, request.body),
  );
  app.post<{ Params: { id: string } }>(
    "/api/v1/composes/:id/heartbeat",
    {
      config: {
        perm: "build",
        summary: "The compose's client is still there: renew its lease (a compose whose lease lapses is ended TERMINATED)",
      },
    },
    async (request) => renewCompose(ctx, caller(request), request.params.id),
  );
  app.post<{
    Params: { id: string };
    Body: { status: ComposeStatus; images?: ComposeImage[]; packages?: ComposePackage[]; sbom?: Record<string, unknown>; diff?: unknown };
  }>(
    "/api/v1/composes/:id/finish",
    {
      // the SBOM of every image and the package lists: larger than the other requests
      bodyLimit: 64 * 1024 * 1024,
      config: {
        perm: "build",
        summary: "End a compose with its status and results: images, packages with their builds, SBOM, package diff",
      },
    },
    async (request) => finishCompose(ctx, caller(request), request.params.id, request.body),
  );
};
