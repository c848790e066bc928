import type { FastifyPluginAsync } from "fastify";
import {
  type ComposeImage,
  type ComposePackage,
  type ComposePhaseStatus,
  type ComposeStatus,
  composeEndStatuses,
  composeLogLimit,
  composePhaseStatuses,
  composeStatuses,
} from "../../api/composes.js";
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
import { arr, int, obj, str } from "../http/schema.js";

const composeId = str(200, { pattern: "^[A-Za-z0-9][A-Za-z0-9._+~-]*$" });
const phaseName = str(32, { pattern: "^[a-z][a-z0-9-]*$" });
const composeParams = obj({ id: composeId }, ["id"]);
const phaseParams = obj({ id: composeId, phase: phaseName }, ["id", "phase"]);
const failure = obj({ code: str(64), message: { type: "string", maxLength: 4000 } }, ["code", "message"]);
const size = int(0, Number.MAX_SAFE_INTEGER);
const image = obj(
  {
    variant: str(200),
    arch: str(32),
    kind: str(200),
    path: str(500),
    digest: { anyOf: [str(200), { type: "null" }] },
    size,
  },
  ["variant", "arch", "kind", "path", "digest", "size"],
);
const pkg = obj(
  {
    variant: str(200),
    arch: str(32),
    name: str(128),
    version: str(256),
    packageArch: str(32),
    build: { anyOf: [int(1), { type: "null" }] },
  },
  ["variant", "arch", "name", "version", "packageArch", "build"],
);

/** Composes: recorded as deb-bootc-compose runs them, listed, described; their SBOM and phase logs. */
export const composeRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.post<{ Body: { id: string; name: string; definition: string; phases?: string[] } }>(
    "/api/v1/composes",
    {
      config: { perm: "build", summary: "Record a compose that starts: its ID, definition and the phases it will run" },
      schema: {
        body: obj(
          {
            id: composeId,
            name: str(128, { pattern: "^[A-Za-z0-9][A-Za-z0-9._+-]*$" }),
            definition: str(1024 * 1024),
            phases: arr(phaseName, 64),
          },
          ["id", "name", "definition"],
        ),
      },
    },
    async (request, reply) => reply.status(201).send(await createCompose(ctx, caller(request), request.body)),
  );
  app.get<{ Querystring: { name?: string; status?: string; limit?: number } }>(
    "/api/v1/composes",
    {
      config: { summary: "List composes, newest first" },
      schema: { querystring: obj({ name: str(128), status: { type: "string", enum: [...composeStatuses] }, limit: int(1, 1000) }) },
    },
    async (request) => listComposes(ctx.db, request.query),
  );
  app.get<{ Params: { id: string } }>(
    "/api/v1/composes/:id",
    { config: { summary: "One compose: phases, images, packages with their builds, the package diff" }, schema: { params: composeParams } },
    async (request) => describeCompose(ctx.db, request.params.id),
  );
  app.get<{ Params: { id: string } }>(
    "/api/v1/composes/:id/sbom",
    { config: { summary: "A compose's SBOM: one SPDX document per image (variant.arch)" }, schema: { params: composeParams } },
    async (request) => composeSbom(ctx.db, request.params.id),
  );
  app.get<{ Params: { id: string; phase: string } }>(
    "/api/v1/composes/:id/phases/:phase/log",
    { config: { summary: "A compose phase's log (its tail, when long)" }, schema: { params: phaseParams } },
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
      schema: {
        params: phaseParams,
        body: obj(
          {
            status: { type: "string", enum: [...composePhaseStatuses] },
            startedAt: { type: "number" },
            completedAt: { type: "number" },
            error: failure,
            log: { type: "string", maxLength: composeLogLimit },
          },
          ["status"],
        ),
      },
    },
    async (request) => reportComposePhase(ctx, caller(request), request.params.id, request.params.phase, request.body),
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
      schema: {
        params: composeParams,
        body: obj(
          {
            status: { type: "string", enum: [...composeEndStatuses] },
            images: arr(image, 1000),
            packages: arr(pkg, 200_000),
            sbom: { type: "object" },
            diff: {},
          },
          ["status"],
        ),
      },
    },
    async (request) => finishCompose(ctx, caller(request), request.params.id, request.body),
  );
};
