import { createReadStream } from "node:fs";
import { appendFile, mkdir, readdir, readFile, realpath, stat } from "node:fs/promises";
import { join, sep } from "node:path";
import { Readable } from "node:stream";
import { CodedError, httpStatusFor } from "@debian-bootc/core";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { openApiDocument } from "../api/openapi.js";
import { type BuildRequest, isTerminal, type TaskResult, taskStates } from "../api/tasks.js";
import { orchestratorError } from "../errors.js";
import { parseCookies, SESSION_COOKIE } from "../web/session.js";
import { authenticate, type Permission, type Principal, permissions, requirePermission } from "./auth.js";
import { deleteBuild } from "./build-delete.js";
import * as catalog from "./catalog.js";
import type { HubContext } from "./context.js";
import { checkResponsesFromEnvironment, registerContractHooks } from "./contract-hooks.js";
import { eventFromRow } from "./events.js";
import { publicErrorJson } from "./host-paths.js";
import { streamClient } from "./limits.js";
import { getTask, listLogs, listTasks, logDir, whyBuild, whyTask } from "./queries.js";
import * as scheduler from "./scheduler.js";
import * as engine from "./task-engine.js";
import { readLogFrom } from "./task-log.js";
import { checkUploadQuota, recordUpload } from "./uploads.js";
import { checkFileName, checkName } from "./validate.js";
import { sessionPrincipal } from "./web-sessions.js";
import { createWebhook, deleteWebhook, listWebhooks } from "./webhooks.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    perm?: Permission | "any";
    summary?: string;
  }
}

export interface ServerOptions {
  /** Let requests without a token read (GET) the API; mutations always need a token. */
  publicRead: boolean;
  /** Largest JSON body accepted. */
  bodyLimit: number;
  logger?: object | false;
  /** Check every JSON answer against the API contract (default: DEB_ORCHESTRATOR_CHECK_RESPONSES=1). */
  checkResponses?: boolean;
}

/* JSON schema shorthands: every body, query and parameter is declared, which both validates requests
 * (malformed input is a 400 with a stable code before any handler runs) and feeds the OpenAPI document. */
const str = (maxLength = 200, extra: object = {}) => ({ type: "string", minLength: 1, maxLength, ...extra });
const int = (minimum = 0, maximum = 2 ** 31 - 1) => ({ type: "integer", minimum, maximum });
const arr = (items: object, maxItems = 100) => ({ type: "array", items, maxItems });
const obj = (properties: Record<string, object>, required: string[] = []) => ({
  type: "object",
  properties,
  required,
  additionalProperties: false,
});
const name = str(64);
const sha = str(64, { pattern: "^[0-9a-f]{64}$" });
const idParams = obj({ id: int(1) }, ["id"]);
const nameParams = obj({ name }, ["name"]);
const fileRef = obj({ name: str(255), sha256: sha, size: int(0, Number.MAX_SAFE_INTEGER) }, ["name", "sha256", "size"]);
const resultFile = obj(
  {
    name: str(255),
    sha256: sha,
    size: int(0, Number.MAX_SAFE_INTEGER),
    kind: str(32),
    package: str(128),
    version: str(256),
    arch: str(32),
  },
  ["name", "sha256", "size", "kind"],
);
const resultBody = {
  type: "object",
  properties: {
    files: arr(resultFile, 10000),
    installed: arr(obj({ name: str(128), version: str(256), arch: str(32) }, ["name", "version", "arch"]), 20000),
  },
  additionalProperties: true,
};

export interface OpenApiRoute {
  method: string;
  url: string;
  summary?: string;
  perm?: string;
  schema?: Record<string, unknown>;
}

export async function buildServer(ctx: HubContext, options: ServerOptions): Promise<{ app: FastifyInstance; routes: OpenApiRoute[] }> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: "array", allErrors: false } },
    forceCloseConnections: true,
    return503OnClosing: true,
  });
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
  app.decorateRequest("principal", undefined);
  registerContractHooks(app, { checkResponses: options.checkResponses ?? checkResponsesFromEnvironment(), logger: ctx.logger });
  app.addContentTypeParser("application/octet-stream", (_request, payload, done) => done(null, payload));

  app.addHook("onRequest", async (request) => {
    request.principal = await authenticate(ctx.db, request.headers.authorization, ctx.principals);
    // the web UI's session cookie lets a logged-in browser read the API (its live event stream, download
    // links) on a hub whose reads are private; only reads: a mutation always needs the Authorization header
    if (!request.principal && request.headers.authorization === undefined && request.url.startsWith("/api/") && isRead(request.method))
      request.principal = await sessionPrincipal(ctx.db, parseCookies(request.headers.cookie).get(SESSION_COOKIE), ctx.principals);
  });
  app.addHook("preHandler", async (request) => {
    const perm = request.routeOptions.config.perm;
    if (perm === "any") {
      if (!request.principal) throw orchestratorError("AUTH_REQUIRED", "this endpoint needs an API token");
    } else if (perm) requirePermission(request.principal, perm);
    // HEAD is a GET without the body: it answers sizes and checksums, so it follows GET's rule
    else if (!options.publicRead && isRead(request.method) && !request.principal && !request.url.startsWith("/api/v1/health"))
      throw orchestratorError("AUTH_REQUIRED", "this hub does not allow anonymous reads");
  });
  // no response of the API is ever sniffed into something a browser would run
  app.addHook("onSend", async (_request, reply, payload) => {
    reply.header("x-content-type-options", "nosniff");
    return payload;
  });

  app.setErrorHandler(
    (error: Error & { statusCode?: number; code?: string; validation?: unknown; validationContext?: string }, request, reply) => {
      if (error instanceof CodedError) return reply.status(httpStatusFor(error.category)).send(publicErrorJson(error, ctx.dataDir));
      if (error.validation)
        return reply.status(400).send({
          code: "REQUEST_INVALID",
          message: `${error.validationContext ?? "request"}${error.message.replace(/^(body|querystring|params|headers)/, "")}`,
        });
      if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
        const code = error.code === "FST_ERR_CTP_BODY_TOO_LARGE" ? "BODY_TOO_LARGE" : "REQUEST_INVALID";
        return reply.status(error.statusCode).send({ code, message: error.message });
      }
      request.log.error({ err: error }, "unexpected error");
      ctx.logger.error({ err: error, url: request.url }, "unexpected error");
      return reply.status(500).send({ code: "INTERNAL", message: "internal error; see the hub's log" });
    },
  );
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ code: "ROUTE_NOT_FOUND", message: `no endpoint ${request.method} ${request.url.split("?")[0]?.slice(0, 200)}` }),
  );

  const me = (request: FastifyRequest) => request.principal!;

  // --- meta
  app.get("/api/v1/health", { config: { summary: "Liveness and database check" } }, async () => {
    await ctx.db.selectFrom("users").select("id").limit(1).execute();
    return { ok: true, dialect: ctx.dialect };
  });
  app.get("/api/v1/openapi.json", { config: { summary: "This API's OpenAPI document" } }, async () => openApiDocument());
  app.get("/api/v1/whoami", { config: { perm: "any", summary: "The token's user and permissions" } }, async (request) => ({
    name: me(request).name,
    perms: [...me(request).perms].sort(),
  }));

  // --- users
  app.get("/api/v1/users", { config: { perm: "admin", summary: "List users" } }, async () => catalog.listUsers(ctx.db));
  app.post<{ Body: { name: string; perms?: string[] } }>(
    "/api/v1/users",
    {
      config: { perm: "admin", summary: "Create a user" },
      schema: { body: obj({ name, perms: arr({ type: "string", enum: [...permissions] }, 5) }, ["name"]) },
    },
    async (request, reply) =>
      reply.status(201).send({ id: await catalog.createUser(ctx, me(request), request.body.name, request.body.perms) }),
  );
  app.post<{ Params: { name: string }; Body: { perm: string; revoke?: boolean } }>(
    "/api/v1/users/:name/permissions",
    {
      config: { perm: "admin", summary: "Grant (or revoke) a permission" },
      schema: {
        params: nameParams,
        body: obj({ perm: { type: "string", enum: [...permissions] }, revoke: { type: "boolean" } }, ["perm"]),
      },
    },
    async (request) => {
      await catalog.grant(ctx, me(request), request.params.name, request.body.perm, request.body.revoke === true);
      return { ok: true };
    },
  );
  app.post<{ Params: { name: string }; Body: { label?: string; expiresAt?: number } }>(
    "/api/v1/users/:name/tokens",
    {
      config: { perm: "any", summary: "Create an API token (shown once); expiresAt (ms since the epoch) ends it" },
      schema: { params: nameParams, body: obj({ label: str(200), expiresAt: int(1, Number.MAX_SAFE_INTEGER) }) },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await catalog.createToken(ctx, me(request), request.params.name, request.body?.label ?? "", request.body?.expiresAt ?? null)),
  );

  app.get<{ Params: { name: string } }>(
    "/api/v1/users/:name/tokens",
    {
      config: { perm: "any", summary: "A user's API tokens (id, label, times, revoked; never the token)" },
      schema: { params: nameParams },
    },
    async (request) => catalog.listTokens(ctx, me(request), request.params.name),
  );
  app.post<{ Params: { id: number } }>(
    "/api/v1/tokens/:id/revoke",
    { config: { perm: "any", summary: "Revoke an API token (its owner or an admin); refused from now on" }, schema: { params: idParams } },
    async (request) => ({ ok: true, ...(await catalog.revokeToken(ctx, me(request), request.params.id)) }),
  );
  for (const [verb, disabled] of [
    ["disable", true],
    ["enable", false],
  ] as const)
    app.post<{ Params: { name: string } }>(
      `/api/v1/users/:name/${verb}`,
      {
        config: {
          perm: "admin",
          summary: disabled
            ? "Disable a user: its tokens are refused and its builders' tasks freed (not the last admin)"
            : "Enable a disabled user again",
        },
        schema: { params: nameParams },
      },
      async (request) => catalog.setUserDisabled(ctx, me(request), request.params.name, disabled),
    );

  // --- tags, external repos, targets
  const tagBody = { arches: arr(str(32), 32), parents: arr(name, 32), externalRepos: arr(name, 32) };
  app.get("/api/v1/tags", { config: { summary: "List tags" } }, async () => catalog.listTags(ctx.db));
  app.get<{ Params: { name: string } }>(
    "/api/v1/tags/:name",
    { config: { summary: "One tag with its inheritance" }, schema: { params: nameParams } },
    async (request) => catalog.describeTag(ctx.db, request.params.name),
  );
  app.post<{ Body: { name: string } & catalog.TagSpec }>(
    "/api/v1/tags",
    { config: { perm: "tag", summary: "Create a tag" }, schema: { body: obj({ name, ...tagBody }, ["name"]) } },
    async (request, reply) => {
      const { name: tagName, ...spec } = request.body;
      return reply.status(201).send({ id: await catalog.createTag(ctx, me(request), tagName, spec) });
    },
  );
  app.patch<{ Params: { name: string }; Body: catalog.TagSpec }>(
    "/api/v1/tags/:name",
    {
      config: { perm: "tag", summary: "Change a tag's arches, parents or external repos" },
      schema: { params: nameParams, body: obj(tagBody) },
    },
    async (request) => {
      await catalog.editTag(ctx, me(request), request.params.name, request.body);
      return catalog.describeTag(ctx.db, request.params.name);
    },
  );
  app.get<{ Params: { name: string }; Querystring: { inherit?: boolean; latest?: boolean } }>(
    "/api/v1/tags/:name/builds",
    {
      config: { summary: "Builds in a tag" },
      schema: { params: nameParams, querystring: obj({ inherit: { type: "boolean" }, latest: { type: "boolean" } }) },
    },
    async (request) => catalog.listTagged(ctx.db, request.params.name, request.query),
  );
  app.get<{ Params: { name: string; pkg: string } }>(
    "/api/v1/tags/:name/latest/:pkg",
    {
      config: { summary: "Latest build of a package in a tag (with inheritance)" },
      schema: { params: obj({ name, pkg: str(128) }, ["name", "pkg"]) },
    },
    async (request) => {
      const [latest] = await catalog.latestTagged(ctx.db, await catalog.tagId(ctx.db, request.params.name), request.params.pkg);
      if (!latest)
        throw orchestratorError("NOT_FOUND", `no build of '${request.params.pkg.slice(0, 100)}' in tag '${request.params.name}'`);
      return latest;
    },
  );
  app.post<{ Params: { name: string }; Body: { build: string; regen?: boolean } }>(
    "/api/v1/tags/:name/builds",
    {
      config: { perm: "tag", summary: "Tag a build (then regenerate the repo)" },
      schema: { params: nameParams, body: obj({ build: str(300), regen: { type: "boolean" } }, ["build"]) },
    },
    async (request) => {
      await catalog.setTagged(ctx, me(request), request.params.name, request.body.build, true);
      return { repoTask: request.body.regen === false ? null : await engine.submitNewRepo(ctx, me(request), request.params.name) };
    },
  );
  app.delete<{ Params: { name: string }; Querystring: { build: string; regen?: boolean } }>(
    "/api/v1/tags/:name/builds",
    {
      config: { perm: "tag", summary: "Untag a build (then regenerate the repo)" },
      schema: { params: nameParams, querystring: obj({ build: str(300), regen: { type: "boolean" } }, ["build"]) },
    },
    async (request) => {
      await catalog.setTagged(ctx, me(request), request.params.name, request.query.build, false);
      return { repoTask: request.query.regen === false ? null : await engine.submitNewRepo(ctx, me(request), request.params.name) };
    },
  );
  app.post<{ Params: { name: string } }>(
    "/api/v1/tags/:name/regen",
    { config: { perm: "repo", summary: "Regenerate a tag's APT repository (newRepo task)" }, schema: { params: nameParams } },
    async (request, reply) => reply.status(202).send({ task: await engine.submitNewRepo(ctx, me(request), request.params.name) }),
  );
  app.get("/api/v1/external-repos", { config: { summary: "List external repositories" } }, async () => catalog.listExternalRepos(ctx.db));
  app.post<{ Body: { name: string; url: string; suite: string; components?: string[] } }>(
    "/api/v1/external-repos",
    {
      config: { perm: "repo", summary: "Add an external repository (a Debian suite used as build input)" },
      schema: { body: obj({ name, url: str(500), suite: name, components: arr(name, 16) }, ["name", "url", "suite"]) },
    },
    async (request, reply) => reply.status(201).send({ id: await catalog.createExternalRepo(ctx, me(request), request.body) }),
  );
  app.get("/api/v1/targets", { config: { summary: "List targets" } }, async () => catalog.listTargets(ctx.db));
  app.post<{ Body: { name: string; buildTag: string; destTag: string } }>(
    "/api/v1/targets",
    {
      config: { perm: "tag", summary: "Create a target (build tag -> destination tag)" },
      schema: { body: obj({ name, buildTag: name, destTag: name }, ["name", "buildTag", "destTag"]) },
    },
    async (request, reply) => reply.status(201).send({ id: await catalog.createTarget(ctx, me(request), request.body) }),
  );

  // --- builds
  app.post<{ Body: BuildRequest }>(
    "/api/v1/builds",
    {
      config: { perm: "build", summary: "Submit a build of an uploaded source package" },
      schema: {
        body: obj(
          {
            target: name,
            dsc: str(255),
            files: arr(fileRef, 64),
            scratch: { type: "boolean" },
            arches: arr(str(32), 32),
            priority: int(0, 1000),
          },
          ["target", "dsc", "files"],
        ),
      },
    },
    async (request, reply) => reply.status(202).send({ task: await engine.submitBuild(ctx, me(request), request.body) }),
  );
  app.get<{ Querystring: { name?: string; state?: string; limit?: number } }>(
    "/api/v1/builds",
    {
      config: { summary: "List builds" },
      schema: {
        querystring: obj({
          name: str(128),
          state: { type: "string", enum: ["building", "complete", "failed", "canceled", "deleted"] },
          limit: int(1, 1000),
        }),
      },
    },
    async (request) => catalog.listBuilds(ctx.db, request.query),
  );
  const buildRef = obj({ ref: str(300) }, ["ref"]);
  app.get<{ Params: { ref: string } }>(
    "/api/v1/builds/:ref",
    { config: { summary: "One build: id or NAME/VERSION (URL-encoded)" }, schema: { params: buildRef } },
    async (request) => catalog.describeBuild(ctx.db, request.params.ref),
  );
  app.delete<{ Params: { ref: string }; Querystring: { artifacts?: "keep" | "remove" } }>(
    "/api/v1/builds/:ref",
    {
      config: {
        perm: "admin",
        summary:
          "Delete a build: state deleted, untagged everywhere, repositories regenerated; artifacts=remove also removes the files only it refers to",
      },
      schema: { params: buildRef, querystring: obj({ artifacts: { type: "string", enum: ["keep", "remove"] } }) },
    },
    async (request) => deleteBuild(ctx, me(request), request.params.ref, { removeArtifacts: request.query.artifacts === "remove" }),
  );
  app.get<{ Params: { ref: string } }>(
    "/api/v1/builds/:ref/why",
    { config: { summary: "Why a build waits or failed" }, schema: { params: buildRef } },
    async (request) => whyBuild(ctx, request.params.ref),
  );

  // --- tasks
  app.get<{ Querystring: { state?: string[]; method?: string; parent?: number; top?: boolean; limit?: number } }>(
    "/api/v1/tasks",
    {
      config: { summary: "List tasks" },
      schema: {
        querystring: obj({
          state: arr({ type: "string", enum: [...taskStates] }, 6),
          method: str(32),
          parent: int(1),
          top: { type: "boolean" },
          limit: int(1, 1000),
        }),
      },
    },
    async (request) =>
      listTasks(ctx, {
        state: request.query.state,
        method: request.query.method,
        parent: request.query.parent,
        topLevel: request.query.top,
        limit: request.query.limit,
      }),
  );
  app.post<{ Body: { method: "noop"; arch: string; priority?: number; sleepMs?: number } }>(
    "/api/v1/tasks",
    {
      config: { perm: "build", summary: "Submit a builder task that needs no build (noop)" },
      schema: {
        body: obj({ method: { type: "string", enum: ["noop"] }, arch: str(32), priority: int(0, 1000), sleepMs: int(0, 3_600_000) }, [
          "method",
          "arch",
        ]),
      },
    },
    async (request, reply) => reply.status(202).send({ task: await engine.submitNoop(ctx, me(request), request.body) }),
  );
  app.get<{ Params: { id: number } }>(
    "/api/v1/tasks/:id",
    { config: { summary: "One task with children, files, logs and history" }, schema: { params: idParams } },
    async (request) => getTask(ctx, request.params.id),
  );
  app.get<{ Params: { id: number } }>(
    "/api/v1/tasks/:id/why",
    { config: { summary: "Why a task waits or failed" }, schema: { params: idParams } },
    async (request) => whyTask(ctx, request.params.id),
  );
  app.post<{ Params: { id: number } }>(
    "/api/v1/tasks/:id/cancel",
    { config: { perm: "build", summary: "Cancel a task and its subtasks" }, schema: { params: idParams } },
    async (request) => {
      await engine.cancelTask(ctx, me(request), request.params.id);
      return { ok: true };
    },
  );
  app.post<{ Params: { id: number } }>(
    "/api/v1/tasks/:id/resubmit",
    { config: { perm: "build", summary: "Run a failed or canceled task again" }, schema: { params: idParams } },
    async (request, reply) => reply.status(202).send({ task: await engine.resubmitTask(ctx, me(request), request.params.id) }),
  );
  app.get<{ Params: { id: number } }>(
    "/api/v1/tasks/:id/logs",
    { config: { summary: "A task's logs and their sizes" }, schema: { params: idParams } },
    async (request) => listLogs(ctx, request.params.id),
  );
  app.get<{ Params: { id: number; name: string }; Querystring: { offset?: number; follow?: boolean } }>(
    "/api/v1/tasks/:id/logs/:name",
    {
      config: { summary: "Read a log from an offset; follow=true streams until the task ends" },
      schema: {
        params: obj({ id: int(1), name: str(100) }, ["id", "name"]),
        querystring: obj({ offset: int(0, Number.MAX_SAFE_INTEGER), follow: { type: "boolean" } }),
      },
    },
    async (request, reply) => readLog(ctx, request, reply),
  );
  app.get<{ Params: { id: number; name: string } }>(
    "/api/v1/tasks/:id/files/:name",
    { config: { summary: "Download a task's result file" }, schema: { params: obj({ id: int(1), name: str(255) }, ["id", "name"]) } },
    async (request, reply) => {
      checkFileName(request.params.name, "name");
      const file = await ctx.db
        .selectFrom("task_files")
        .selectAll()
        .where("task_id", "=", request.params.id)
        .where("name", "=", request.params.name)
        .executeTakeFirst();
      if (!file) throw orchestratorError("NOT_FOUND", `task ${request.params.id} has no file '${request.params.name}'`);
      asDownload(reply, "attachment", file.name);
      return reply.header("content-type", "application/octet-stream").header("x-sha256", file.sha256).send(ctx.store.open(file.sha256));
    },
  );

  // --- artifacts
  app.put<{ Params: { sha256: string }; Querystring: { size: number } }>(
    "/api/v1/artifacts/:sha256",
    {
      config: { perm: "any", summary: "Upload a file (application/octet-stream), checked against sha256 and size" },
      schema: { params: obj({ sha256: sha }, ["sha256"]), querystring: obj({ size: int(0, Number.MAX_SAFE_INTEGER) }, ["size"]) },
    },
    async (request, reply) => {
      if (!me(request).perms.has("build") && !me(request).perms.has("host") && !me(request).perms.has("admin"))
        throw orchestratorError("PERMISSION_DENIED", "uploads need the build or host permission");
      const body = request.body as Readable | undefined;
      if (!body || typeof (body as Readable).pipe !== "function")
        throw orchestratorError("REQUEST_INVALID", "upload with content-type application/octet-stream");
      await checkUploadQuota(ctx, me(request), request.query.size);
      const stored = await ctx.store.put(body, { sha256: request.params.sha256, size: request.query.size });
      await recordUpload(ctx, me(request), stored.sha256, stored.size);
      return reply.status(stored.created ? 201 : 200).send(stored);
    },
  );
  app.route<{ Params: { sha256: string } }>({
    method: ["GET", "HEAD"],
    url: "/api/v1/artifacts/:sha256",
    config: { summary: "Download a stored file by sha256" },
    schema: { params: obj({ sha256: sha }, ["sha256"]) },
    handler: async (request, reply) => {
      const size = await ctx.store.size(request.params.sha256);
      if (size === undefined) throw orchestratorError("ARTIFACT_MISSING", `no artifact ${request.params.sha256}`);
      // no file name: the web UI's links name the file with their download attribute
      asDownload(reply, "attachment");
      reply.header("content-type", "application/octet-stream").header("content-length", size);
      if (request.method === "HEAD") return reply.send();
      return reply.send(ctx.store.open(request.params.sha256));
    },
  });

  // --- hosts (builders)
  app.get("/api/v1/hosts", { config: { summary: "List builder hosts" } }, async () => {
    const hosts = await ctx.db.selectFrom("hosts").selectAll().orderBy("name").execute();
    const loads = await ctx.db
      .selectFrom("tasks")
      .select((eb) => ["host_id", eb.fn.countAll<number | string>().as("n")])
      .where("state", "in", ["assigned", "open"])
      .groupBy("host_id")
      .execute();
    return hosts.map((h) => ({
      name: h.name,
      arches: h.arches.split(" "),
      capacity: h.capacity,
      enabled: h.enabled === 1,
      lastCheckin: h.last_checkin,
      reportedLoad: h.load,
      tasks: Number(loads.find((l) => l.host_id === h.id)?.n ?? 0),
    }));
  });
  for (const [verb, enabled] of [
    ["enable", true],
    ["disable", false],
  ] as const)
    app.post<{ Params: { name: string } }>(
      `/api/v1/hosts/:name/${verb}`,
      { config: { perm: "admin", summary: `${verb} a builder host` }, schema: { params: nameParams } },
      async (request) => {
        await scheduler.setHostEnabled(ctx, me(request), request.params.name, enabled);
        return { ok: true };
      },
    );
  const session = str(100, { pattern: "^[A-Za-z0-9_-]+$" });
  app.post<{ Params: { name: string }; Body: scheduler.CheckinRequest }>(
    "/api/v1/hosts/:name/checkin",
    {
      config: { perm: "host", summary: "A builder starts (a new session frees its orphaned tasks)" },
      schema: {
        params: nameParams,
        body: obj({ session, arches: { ...arr(str(32), 16), minItems: 1 }, capacity: int(1, 1000), load: int(0, 100000) }, [
          "session",
          "arches",
          "capacity",
        ]),
      },
    },
    async (request) => {
      const { host, freed } = await scheduler.checkin(ctx, me(request), request.params.name, request.body);
      return { host: host.name, enabled: host.enabled === 1, freed, leaseMs: ctx.leaseMs, heartbeatMs: ctx.heartbeatMs };
    },
  );
  app.post<{ Params: { name: string }; Body: { session: string; waitMs?: number; start?: boolean } }>(
    "/api/v1/hosts/:name/claim",
    {
      config: { perm: "host", summary: "Long-poll for a task (answers as soon as one is free); start=true also marks it open" },
      schema: { params: nameParams, body: obj({ session, waitMs: int(0, 60_000), start: { type: "boolean" } }, ["session"]) },
    },
    async (request, reply) => {
      const host = await scheduler.hostForPrincipal(ctx, me(request), request.params.name);
      const delivery = guardDelivery(ctx, reply, host, request.body.session);
      const pending = scheduler.claim(
        ctx,
        host,
        request.body.session,
        request.body.waitMs ?? 20_000,
        AbortSignal.any([delivery.gone, ctx.closing]),
        request.body.start === true,
      );
      ctx.inflight.add(pending);
      const task = await pending.finally(() => ctx.inflight.delete(pending));
      return { task: delivery.hand(task) };
    },
  );
  app.post<{ Params: { name: string }; Body: { session: string; tasks?: number[] } }>(
    "/api/v1/hosts/:name/checkout",
    {
      config: {
        perm: "host",
        summary: "A stopping builder gives back every task of its session it does not list (freed at once, not counted)",
      },
      schema: { params: nameParams, body: obj({ session, tasks: arr(int(1), 1000) }, ["session"]) },
    },
    async (request) => ({
      freed: await scheduler.checkout(
        ctx,
        await scheduler.hostForPrincipal(ctx, me(request), request.params.name),
        request.body.session,
        request.body.tasks ?? [],
      ),
    }),
  );
  app.post<{ Params: { name: string }; Body: { session: string; load?: number; tasks?: number[] } }>(
    "/api/v1/hosts/:name/heartbeat",
    {
      config: { perm: "host", summary: "Renew the leases of the session's tasks" },
      schema: { params: nameParams, body: obj({ session, load: int(0, 100000), tasks: arr(int(1), 1000) }, ["session"]) },
    },
    async (request) => scheduler.heartbeat(ctx, await scheduler.hostForPrincipal(ctx, me(request), request.params.name), request.body),
  );
  const hostTaskParams = obj({ name, id: int(1) }, ["name", "id"]);
  app.post<{ Params: { name: string; id: number }; Body: { session: string } }>(
    "/api/v1/hosts/:name/tasks/:id/start",
    {
      config: { perm: "host", summary: "The builder starts a claimed task" },
      schema: { params: hostTaskParams, body: obj({ session }, ["session"]) },
    },
    async (request) => {
      const host = await scheduler.hostIdentity(ctx, me(request), request.params.name);
      const task = await scheduler.startTask(ctx, host, request.params.id, request.body.session);
      return { id: task.id, state: task.state };
    },
  );
  app.post<{ Params: { name: string; id: number }; Body: { session: string; result?: TaskResult; claimNext?: boolean } }>(
    "/api/v1/hosts/:name/tasks/:id/complete",
    {
      config: {
        perm: "host",
        summary:
          "The builder reports success with its result files; claimNext=true also claims and starts its next task in the same transaction (answered as `next`)",
      },
      schema: { params: hostTaskParams, body: obj({ session, result: resultBody, claimNext: { type: "boolean" } }, ["session"]) },
    },
    async (request, reply) => {
      const host = await scheduler.hostIdentity(ctx, me(request), request.params.name);
      const delivery = guardDelivery(ctx, reply, host, request.body.session);
      const next = await engine.completeTask(ctx, host, request.params.id, request.body.session, request.body.result ?? {}, {
        claimNext: request.body.claimNext === true,
      });
      return request.body.claimNext === true ? { ok: true, next: delivery.hand(next) } : { ok: true };
    },
  );
  app.post<{
    Params: { name: string; id: number };
    Body: { session: string; error: { code: string; message: string }; result?: TaskResult };
  }>(
    "/api/v1/hosts/:name/tasks/:id/fail",
    {
      config: { perm: "host", summary: "The builder reports failure" },
      schema: {
        params: hostTaskParams,
        body: obj(
          {
            session,
            error: obj({ code: str(64), message: { type: "string", maxLength: 20000 } }, ["code", "message"]),
            result: resultBody,
          },
          ["session", "error"],
        ),
      },
    },
    async (request) => {
      const host = await scheduler.hostIdentity(ctx, me(request), request.params.name);
      return engine.failTask(ctx, host, request.params.id, request.body.session, request.body.error, request.body.result ?? {});
    },
  );
  app.post<{ Params: { name: string; id: number }; Body: { session: string } }>(
    "/api/v1/hosts/:name/tasks/:id/release",
    {
      config: { perm: "host", summary: "The builder gives a task back unfinished (shutdown)" },
      schema: { params: hostTaskParams, body: obj({ session }, ["session"]) },
    },
    async (request) => {
      await scheduler.releaseTask(
        ctx,
        await scheduler.hostIdentity(ctx, me(request), request.params.name),
        request.params.id,
        request.body.session,
      );
      return { ok: true };
    },
  );
  app.post<{ Params: { name: string; id: number; log: string }; Querystring: { session: string } }>(
    "/api/v1/hosts/:name/tasks/:id/logs/:log",
    {
      config: { perm: "host", summary: "Append to a task's live log (text/plain body)" },
      schema: { params: obj({ name, id: int(1), log: str(100) }, ["name", "id", "log"]), querystring: obj({ session }, ["session"]) },
    },
    async (request) => {
      checkFileName(request.params.log, "log");
      const host = await scheduler.hostIdentity(ctx, me(request), request.params.name);
      await scheduler.ownedTask(ctx, host, request.params.id, request.query.session);
      const body = typeof request.body === "string" ? request.body : Buffer.isBuffer(request.body) ? request.body : undefined;
      if (body === undefined) throw orchestratorError("REQUEST_INVALID", "log chunks are sent as text/plain");
      const dir = logDir(ctx, request.params.id);
      await mkdir(dir, { recursive: true });
      const logged = (await listLogs(ctx, request.params.id)).reduce((sum, log) => sum + log.size, 0);
      if (logged + body.length > ctx.limits.maxTaskLogBytes)
        throw orchestratorError(
          "LOG_TOO_LARGE",
          `task ${request.params.id} has ${logged} bytes of logs; ${body.length} more would exceed the limit of ${ctx.limits.maxTaskLogBytes}`,
        );
      await appendFile(join(dir, request.params.log), body);
      return { ok: true };
    },
  );

  // --- events
  app.get<{ Querystring: { after?: number; limit?: number; type?: string; object?: number } }>(
    "/api/v1/events",
    {
      config: { summary: "The event log (append-only), oldest first" },
      schema: { querystring: obj({ after: int(0), limit: int(1, 10000), type: str(32), object: int(1) }) },
    },
    async (request) => {
      let query = ctx.db
        .selectFrom("events")
        .selectAll()
        .where("id", ">", request.query.after ?? 0);
      if (request.query.type) query = query.where("object_type", "=", request.query.type);
      if (request.query.object) query = query.where("object_id", "=", request.query.object);
      return (
        await query
          .orderBy("id")
          .limit(request.query.limit ?? 1000)
          .execute()
      ).map(eventFromRow);
    },
  );
  app.get<{ Querystring: { after?: number; type?: string; object?: number } }>(
    "/api/v1/events/stream",
    {
      config: { summary: "Server-sent events: the event log as it grows" },
      schema: { querystring: obj({ after: int(0), type: str(32), object: int(1) }) },
    },
    async (request, reply) => streamEvents(ctx, request, reply),
  );

  // --- webhooks
  app.get("/api/v1/webhooks", { config: { perm: "admin", summary: "List webhooks (without their secrets)" } }, async () =>
    listWebhooks(ctx),
  );
  app.post<{ Body: { url: string; secret: string; kinds?: string[]; allowLocal?: boolean } }>(
    "/api/v1/webhooks",
    {
      config: {
        perm: "admin",
        summary:
          "Add a webhook: events from now on, in order, signed with HMAC-SHA256 of the secret, retried until a 2xx; allowLocal admits loopback, link-local and the hub's own addresses",
      },
      schema: {
        body: obj({ url: str(500), secret: str(200, { minLength: 16 }), kinds: arr(str(40), 20), allowLocal: { type: "boolean" } }, [
          "url",
          "secret",
        ]),
      },
    },
    async (request, reply) => reply.status(201).send({ id: await createWebhook(ctx, me(request), request.body) }),
  );
  app.delete<{ Params: { id: number } }>(
    "/api/v1/webhooks/:id",
    { config: { perm: "admin", summary: "Remove a webhook" }, schema: { params: idParams } },
    async (request) => {
      await deleteWebhook(ctx, me(request), request.params.id);
      return { ok: true };
    },
  );

  // --- repositories, served read-only
  app.get("/repos/key.asc", { config: { summary: "The OpenPGP key tag repositories are signed with" } }, async (_request, reply) => {
    if (!ctx.repoPublicKey) throw orchestratorError("NOT_FOUND", "this hub does not sign its repositories");
    return reply.header("content-type", "application/pgp-keys").send(ctx.repoPublicKey);
  });
  app.get<{ Params: { "*": string } }>(
    "/repos/*",
    { config: { summary: "Tag repositories: /repos/TAG/latest/... and /repos/TAG/N/..." } },
    async (request, reply) => serveRepoFile(ctx, request.params["*"], reply),
  );
  return { app, routes };
}

function isRead(method: string): boolean {
  return method === "GET" || method === "HEAD";
}

/**
 * Files served from the web UI's origin are inert: a sandbox policy gives a rendered document an opaque
 * origin of its own (no cookies, no scripts), and files a browser would render are attachments.
 */
function asDownload(reply: FastifyReply, disposition: "inline" | "attachment", fileName?: string): void {
  reply.header("content-security-policy", "sandbox; default-src 'none'");
  reply.header("content-disposition", fileName ? `${disposition}; filename="${fileName}"` : disposition);
}

export interface ClaimedTaskView {
  id: number;
  method: string;
  arch: string | null;
  state: string;
  request: unknown;
  attempts: number;
}

/**
 * Claim answers must reach the builder or go back to the queue. `gone` aborts when the connection closes
 * before the answer was written (the builder stopped or gave up: a long-poll stops waiting). `hand`
 * turns a claimed task into the answer, unless the connection is gone already, and if the answer then
 * cannot be written to the connection the task is freed at once (reason `undelivered`) instead of
 * waiting for its lease to lapse.
 */
export function guardDelivery(
  ctx: HubContext,
  reply: { raw: Pick<FastifyReply["raw"], "on" | "writableFinished"> },
  host: scheduler.HostIdentity,
  session: string,
): { gone: AbortSignal; hand(task: scheduler.TaskRow | undefined): ClaimedTaskView | null } {
  const gone = new AbortController();
  let handed: scheduler.TaskRow | undefined;
  const giveBack = (task: scheduler.TaskRow) => {
    const pending = scheduler
      .releaseTask(ctx, host, task.id, session, "undelivered")
      .then(() => ctx.logger.warn({ task: task.id, host: host.name }, "claim answer not delivered; task freed"))
      .catch((error: Error) => ctx.logger.warn({ task: task.id, err: error.message }, "could not free an undelivered task"))
      .finally(() => ctx.inflight.delete(pending));
    ctx.inflight.add(pending);
  };
  reply.raw.on("close", () => {
    if (reply.raw.writableFinished) return;
    gone.abort();
    if (handed) giveBack(handed);
    handed = undefined;
  });
  return {
    gone: gone.signal,
    hand(task) {
      if (!task) return null;
      if (gone.signal.aborted) {
        giveBack(task);
        return null;
      }
      handed = task;
      return {
        id: task.id,
        method: task.method,
        arch: task.arch,
        state: task.state,
        request: JSON.parse(task.request) as unknown,
        attempts: task.attempts,
      };
    },
  };
}

async function readLog(
  ctx: HubContext,
  request: FastifyRequest<{ Params: { id: number; name: string }; Querystring: { offset?: number; follow?: boolean } }>,
  reply: FastifyReply,
) {
  const logName = checkFileName(request.params.name, "name");
  const taskId = request.params.id;
  const task = await ctx.db.selectFrom("tasks").select("state").where("id", "=", taskId).executeTakeFirst();
  if (!task) throw orchestratorError("NOT_FOUND", `task ${taskId} does not exist`);
  const path = join(logDir(ctx, taskId), logName);
  let offset = request.query.offset ?? 0;
  const readFrom = async (complete = false): Promise<Buffer> => {
    const { chunk, next } = await readLogFrom(path, offset, { max: 1024 * 1024, complete });
    offset = next;
    return chunk;
  };
  // shown as text in the browser (the web UI's "raw" link); nosniff and the sandbox keep it inert
  asDownload(reply, "inline", logName);
  reply.header("content-type", "text/plain; charset=utf-8");
  if (!request.query.follow) {
    const chunk = await readFrom(isTerminal(task.state));
    return reply.header("x-next-offset", offset).send(chunk);
  }
  const release = ctx.streams.acquire(streamClient(request));
  let closed = false;
  request.raw.on("close", () => {
    closed = true;
    release();
  });
  const stream = Readable.from(
    (async function* () {
      // the first read, even an empty one, sends the headers: a client following an empty log knows it is
      yield await readFrom();
      while (!closed) {
        const chunk = await readFrom();
        if (chunk.length) {
          yield chunk;
          continue;
        }
        const state = await ctx.db.selectFrom("tasks").select("state").where("id", "=", taskId).executeTakeFirst();
        if (!state || isTerminal(state.state)) {
          const last = await readFrom(true);
          if (last.length) yield last;
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })(),
  ).once("close", release);
  return reply.send(stream);
}

async function streamEvents(
  ctx: HubContext,
  request: FastifyRequest<{ Querystring: { after?: number; type?: string; object?: number } }>,
  reply: FastifyReply,
) {
  let last =
    request.query.after ??
    Number(
      (
        await ctx.db
          .selectFrom("events")
          .select((eb) => eb.fn.max("id").as("m"))
          .executeTakeFirst()
      )?.m ?? 0,
    );
  const release = ctx.streams.acquire(streamClient(request));
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  raw.write(": deb-orchestrator events\n\n");
  let busy = false;
  let again = false;
  const flush = async () => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        let query = ctx.db.selectFrom("events").selectAll().where("id", ">", last);
        if (request.query.type) query = query.where("object_type", "=", request.query.type);
        if (request.query.object) query = query.where("object_id", "=", request.query.object);
        const rows = await query.orderBy("id").limit(1000).execute();
        for (const row of rows) {
          const event = eventFromRow(row);
          last = event.id;
          raw.write(`id: ${event.id}\nevent: ${event.kind}\ndata: ${JSON.stringify(event)}\n\n`);
        }
        if (rows.length === 1000) again = true;
      } while (again);
    } catch {
      // the next ping retries
    } finally {
      busy = false;
    }
  };
  const onChange = () => void flush();
  ctx.bus.on("changed", onChange);
  const keepAlive = setInterval(() => {
    raw.write(": keep-alive\n\n");
    void flush(); // other hub processes append too
  }, 5000);
  request.raw.on("close", () => {
    ctx.bus.off("changed", onChange);
    clearInterval(keepAlive);
    release();
  });
  await flush();
}

async function serveRepoFile(ctx: HubContext, relative: string, reply: FastifyReply) {
  const parts = relative.split("/").filter((p) => p !== "");
  if (parts.length < 1) throw orchestratorError("NOT_FOUND", "repository paths look like /repos/TAG/latest/dists/...");
  for (const part of parts)
    if (part === "." || part === ".." || part.length > 255 || !/^[A-Za-z0-9._+~:-]+$/.test(part))
      throw orchestratorError("PATH_INVALID", "bad repository path");
  checkName(parts[0]!, "tag");
  const root = await realpath(join(ctx.dataDir, "repos")).catch(() => undefined);
  if (!root) throw orchestratorError("NOT_FOUND", "no repository has been published yet");
  let path: string;
  try {
    path = await realpath(join(root, ...parts));
  } catch {
    throw orchestratorError("NOT_FOUND", `no file /repos/${parts.join("/")}`);
  }
  if (!path.startsWith(root + sep)) throw orchestratorError("PATH_INVALID", "path leaves the repository directory");
  const info = await stat(path);
  if (info.isDirectory()) {
    return reply.header("content-type", "text/plain; charset=utf-8").send(`${(await readdir(path)).sort().join("\n")}\n`);
  }
  const type = /(Release|Packages|Sources|\.json)$/.test(path) ? "text/plain; charset=utf-8" : "application/octet-stream";
  asDownload(reply, type.startsWith("text/") ? "inline" : "attachment", parts[parts.length - 1]);
  reply.header("content-type", type).header("content-length", info.size);
  if (info.size < 64 * 1024) return reply.send(await readFile(path));
  return reply.send(createReadStream(path));
}
