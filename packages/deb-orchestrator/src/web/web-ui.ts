import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CodedError, httpStatusFor } from "@debian-bootc/core";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isTerminal } from "../api/tasks.js";
import { orchestratorError } from "../errors.js";
import { authenticate, type Permission, requirePermission, sessionPrincipal } from "../hub/auth.js";
import { setTagged } from "../hub/catalog/tags.js";
import type { HubContext } from "../hub/context.js";
import { streamClient } from "../hub/limits.js";
import { logDir, readLogFrom } from "../hub/task-log.js";
import { cancelTask, resubmitTask } from "../hub/tasks/control.js";
import { submitNewRepo } from "../hub/tasks/methods/new-repo.js";
import { checkFileName } from "../hub/validate.js";
import { closeSession, openSession, SESSION_TTL_MS } from "../hub/web-sessions.js";
import { formatDuration, formatTime } from "./html.js";
import type { PageContext } from "./layout.js";
import { buildPage, buildsPage, packagePage, packagesPage } from "./pages/builds.js";
import { composeLogPage, composePage, composesPage, imageTaskLabel } from "./pages/composes.js";
import { hostsPage } from "./pages/hosts.js";
import { errorPage, loginPage } from "./pages/login.js";
import { overviewPage } from "./pages/overview.js";
import { searchPage } from "./pages/search.js";
import { externalReposPage, repositoriesPage, tagPage, tagsPage, targetsPage } from "./pages/tags.js";
import { taskLogPage, taskPage, tasksPage } from "./pages/tasks.js";
import {
  CSRF_FIELD,
  checkCsrfToken,
  checkLoginNonce,
  csrfTokenFor,
  LOGIN_COOKIE,
  newLoginNonce,
  parseCookies,
  SESSION_COOKIE,
  safeNext,
  sameOrigin,
  serializeCookie,
} from "./session.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** A web route anyone may load even when the pages are not public (login, stylesheet, script). */
    webAnonymous?: boolean;
  }
  interface FastifyRequest {
    /** The web session id (from the session cookie) when it names an open session; keys its CSRF token. */
    webToken: string | undefined;
  }
}

export interface WebUiOptions {
  /** Anonymous visitors may read the pages. When the hub's API refuses anonymous reads the pages do too. */
  publicRead: boolean;
  /** The hub's route list (its OpenAPI document): the web routes are taken out of it. */
  routes?: Array<{ method: string; url: string }>;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function loadAsset(name: string, type: string, prefix = ""): Asset {
  // from src/web/ (tests, tsx) or from dist/web/ (the package ships src/, assets are not compiled)
  const candidates = [new URL(`./assets/${name}`, import.meta.url), new URL(`../../src/web/assets/${name}`, import.meta.url)];
  for (const candidate of candidates) {
    try {
      const body = Buffer.concat([Buffer.from(prefix), readFileSync(fileURLToPath(candidate))]);
      return { body, type, etag: `"${createHash("sha256").update(body).digest("hex").slice(0, 16)}"` };
    } catch {
      // next candidate
    }
  }
  throw new Error(`web UI asset ${name} not found next to ${import.meta.url}`);
}

/**
 * What web.js gets before its own text: the server's formatters and labels as their own (compiled)
 * source, so that a page shows live times, durations and task labels exactly as the server rendered
 * them, from one definition (each is self-contained: it refers to nothing else of its module).
 */
const SHARED_WITH_THE_PAGE = `${formatDuration}\n${formatTime}\n${imageTaskLabel}\n`;

const FLASH: Record<string, string> = {
  canceled: "Task canceled.",
  resubmitted: "Resubmitted: this is the new task.",
  tagged: "Tagged; the tag's repository is being regenerated.",
  untagged: "Untagged; the tag's repository is being regenerated.",
  regen: "Repository regeneration queued: this is its task.",
  login: "Logged in.",
  logout: "Logged out.",
};

type Query = Record<string, unknown>;
type FormBody = Record<string, string> | undefined;

/** Register the web UI (pages, assets, actions, live logs) on the hub's Fastify instance. */
export async function registerWebUi(app: FastifyInstance, ctx: HubContext, options: WebUiOptions): Promise<void> {
  const css = loadAsset("web.css", "text/css; charset=utf-8");
  const js = loadAsset("web.js", "text/javascript; charset=utf-8", SHARED_WITH_THE_PAGE);
  const assetVersion = createHash("sha256").update(css.body).update(js.body).digest("hex").slice(0, 12);
  const cssText = css.body.toString("utf8");
  const mine = new Set<string>();

  await app.register(async (web) => {
    web.addHook("onRoute", (route) => {
      for (const method of [route.method].flat()) mine.add(`${method} ${route.url}`);
    });
    web.decorateRequest("webToken", undefined);
    web.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: 64 * 1024 }, (_request, body, done) => {
      const fields: Record<string, string> = {};
      for (const [key, value] of new URLSearchParams(String(body))) if (!(key in fields)) fields[key] = value;
      done(null, fields);
    });

    // the session cookie names a web session (an unknown, expired or closed one is anonymous)
    web.addHook("onRequest", async (request) => {
      if (request.principal) return;
      const session = parseCookies(request.headers.cookie).get(SESSION_COOKIE);
      request.principal = await sessionPrincipal(ctx.db, session, ctx.principals);
      if (request.principal) request.webToken = session;
    });
    web.addHook("preHandler", async (request) => {
      if (!options.publicRead && !request.principal && !request.routeOptions.config.webAnonymous)
        throw orchestratorError("AUTH_REQUIRED", "log in to see this hub's pages");
    });
    web.addHook("onSend", async (request, reply, payload) => {
      securityHeaders(reply, nonceOf(request));
      return payload;
    });

    const nonces = new WeakMap<FastifyRequest, string>();
    const nonceOf = (request: FastifyRequest) => {
      let nonce = nonces.get(request);
      if (!nonce) {
        nonce = randomBytes(16).toString("base64");
        nonces.set(request, nonce);
      }
      return nonce;
    };
    const pageContext = (request: FastifyRequest): PageContext => {
      const done = (request.query as Query | undefined)?.done;
      const flash = typeof done === "string" && FLASH[done] ? { kind: "ok" as const, text: FLASH[done]! } : undefined;
      return {
        principal: request.principal,
        csrf: request.webToken ? csrfTokenFor(request.webToken) : undefined,
        now: ctx.now(),
        nonce: nonceOf(request),
        assetVersion,
        url: request.url.slice(0, 500),
        flash,
      };
    };
    const send = (reply: FastifyReply, body: string, status = 200) =>
      reply.status(status).header("content-type", "text/html; charset=utf-8").header("cache-control", "no-store").send(body);
    const notFound = (request: FastifyRequest, reply: FastifyReply, what: string) =>
      send(reply, errorPage(pageContext(request), 404, "NOT_FOUND", `${what} does not exist.`), 404);
    const secure = (request: FastifyRequest) => request.protocol === "https";

    const renderLogin = (request: FastifyRequest, reply: FastifyReply, status: number, message?: string) => {
      const cookies = parseCookies(request.headers.cookie);
      let loginNonce = cookies.get(LOGIN_COOKIE);
      if (!loginNonce || loginNonce.length < 16) {
        loginNonce = newLoginNonce();
        reply.header("set-cookie", serializeCookie(LOGIN_COOKIE, loginNonce, { secure: secure(request), maxAgeS: 3600 }));
      }
      const q = request.query as Query | undefined;
      const next = safeNext(
        typeof q?.next === "string" ? q.next : request.method === "GET" && !request.url.startsWith("/login") ? request.url : "/",
      );
      return send(reply, loginPage(pageContext(request), { next, nonce: nonceOf(request), loginNonce, css: cssText, message }), status);
    };

    web.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
      if (error instanceof CodedError) {
        const status = httpStatusFor(error.category);
        if (error.code === "AUTH_REQUIRED" && request.method === "GET") return renderLogin(request, reply, 401);
        return send(reply, errorPage(pageContext(request), status, error.code, error.message, error.hint), status);
      }
      if (error.validation) return send(reply, errorPage(pageContext(request), 400, "REQUEST_INVALID", error.message), 400);
      if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500)
        return send(reply, errorPage(pageContext(request), error.statusCode, "REQUEST_INVALID", error.message), error.statusCode);
      ctx.logger.error({ err: error, url: request.url }, "web page failed");
      return send(reply, errorPage(pageContext(request), 500, "INTERNAL", "Internal error; see the hub's log."), 500);
    });

    // ---- assets
    for (const [url, asset] of [
      ["/static/web.css", css],
      ["/static/web.js", js],
    ] as const)
      web.get(url, { config: { webAnonymous: true } }, async (request, reply) => {
        const versioned = (request.query as Query).v === assetVersion;
        reply.header("content-type", asset.type).header("etag", asset.etag);
        reply.header("cache-control", versioned ? "public, max-age=31536000, immutable" : "no-cache");
        if (request.headers["if-none-match"] === asset.etag) return reply.status(304).send();
        return reply.send(asset.body);
      });

    // ---- pages
    const idParams = { type: "object", properties: { id: { type: "integer", minimum: 1, maximum: 2 ** 31 - 1 } }, required: ["id"] };
    const nameParams = { type: "object", properties: { name: { type: "string", minLength: 1, maxLength: 200 } }, required: ["name"] };
    web.get("/", async (request, reply) => send(reply, await overviewPage(ctx, pageContext(request))));
    web.get("/tasks", async (request, reply) => send(reply, await tasksPage(ctx, pageContext(request), request.query as Query)));
    web.get<{ Params: { id: number } }>("/tasks/:id", { schema: { params: idParams } }, async (request, reply) => {
      const body = await taskPage(ctx, pageContext(request), request.params.id);
      return body ? send(reply, body) : notFound(request, reply, `Task ${request.params.id}`);
    });
    web.get<{ Params: { id: number; name: string } }>(
      "/tasks/:id/logs/:name",
      { schema: { params: { ...idParams, properties: { ...idParams.properties, ...nameParams.properties }, required: ["id", "name"] } } },
      async (request, reply) => {
        const name = checkFileName(request.params.name, "log");
        const body = await taskLogPage(ctx, pageContext(request), request.params.id, name);
        return body ? send(reply, body) : notFound(request, reply, `Task ${request.params.id}`);
      },
    );
    web.get<{ Params: { id: number; name: string }; Querystring: { offset?: number } }>(
      "/tasks/:id/logs/:name/events",
      {
        schema: {
          params: { ...idParams, properties: { ...idParams.properties, ...nameParams.properties }, required: ["id", "name"] },
          querystring: { type: "object", properties: { offset: { type: "integer", minimum: 0 } } },
        },
      },
      async (request, reply) => streamLog(ctx, request, reply, nonceOf(request)),
    );
    web.get("/builds", async (request, reply) => send(reply, await buildsPage(ctx, pageContext(request), request.query as Query)));
    web.get<{ Params: { id: number } }>("/builds/:id", { schema: { params: idParams } }, async (request, reply) => {
      const body = await buildPage(ctx, pageContext(request), request.params.id);
      return body ? send(reply, body) : notFound(request, reply, `Build ${request.params.id}`);
    });
    const composeParams = {
      type: "object",
      properties: { id: { type: "string", minLength: 1, maxLength: 200, pattern: "^[A-Za-z0-9][A-Za-z0-9._+~-]*$" } },
      required: ["id"],
    };
    web.get("/composes", async (request, reply) => send(reply, await composesPage(ctx, pageContext(request), request.query as Query)));
    web.get<{ Params: { id: string } }>("/composes/:id", { schema: { params: composeParams } }, async (request, reply) => {
      const body = await composePage(ctx, pageContext(request), request.params.id);
      return body ? send(reply, body) : notFound(request, reply, `Compose ${request.params.id}`);
    });
    web.get<{ Params: { id: string; phase: string } }>(
      "/composes/:id/phases/:phase/log",
      {
        schema: {
          params: {
            ...composeParams,
            properties: {
              ...composeParams.properties,
              phase: { type: "string", minLength: 1, maxLength: 32, pattern: "^[a-z][a-z0-9-]*$" },
            },
            required: ["id", "phase"],
          },
        },
      },
      async (request, reply) => {
        const body = await composeLogPage(ctx, pageContext(request), request.params.id, request.params.phase);
        return body ? send(reply, body) : notFound(request, reply, `Phase ${request.params.phase} of compose ${request.params.id}`);
      },
    );
    web.get("/packages", async (request, reply) => send(reply, await packagesPage(ctx, pageContext(request), request.query as Query)));
    web.get<{ Params: { name: string } }>("/packages/:name", { schema: { params: nameParams } }, async (request, reply) => {
      const body = await packagePage(ctx, pageContext(request), request.params.name);
      return body ? send(reply, body) : notFound(request, reply, `Package ${request.params.name.slice(0, 100)}`);
    });
    web.get("/tags", async (request, reply) => send(reply, await tagsPage(ctx, pageContext(request))));
    web.get<{ Params: { name: string } }>("/tags/:name", { schema: { params: nameParams } }, async (request, reply) => {
      const body = await tagPage(ctx, pageContext(request), request.params.name);
      return body ? send(reply, body) : notFound(request, reply, `Tag ${request.params.name.slice(0, 100)}`);
    });
    web.get("/targets", async (request, reply) => send(reply, await targetsPage(ctx, pageContext(request))));
    web.get("/external-repos", async (request, reply) => send(reply, await externalReposPage(ctx, pageContext(request))));
    web.get("/repositories", async (request, reply) =>
      send(reply, await repositoriesPage(ctx, pageContext(request), request.query as Query)),
    );
    web.get("/hosts", async (request, reply) => send(reply, await hostsPage(ctx, pageContext(request))));
    web.get("/search", async (request, reply) => send(reply, await searchPage(ctx, pageContext(request), request.query as Query)));

    // ---- login and logout
    web.get("/login", { config: { webAnonymous: true } }, async (request, reply) => renderLogin(request, reply, 200));
    web.post("/login", { config: { webAnonymous: true } }, async (request, reply) => {
      const form = (request.body ?? {}) as FormBody & object;
      if (!sameOrigin(request.headers)) throw orchestratorError("CSRF_INVALID", "the login form was posted from another site");
      if (!checkLoginNonce(parseCookies(request.headers.cookie).get(LOGIN_COOKIE), form[LOGIN_COOKIE]))
        return renderLogin(request, reply, 403, "The login form expired; please try again.");
      const token = (form.token ?? "").trim();
      let principal: Awaited<ReturnType<typeof authenticate>>;
      try {
        principal = await authenticate(ctx.db, `Bearer ${token}`, ctx.principals);
      } catch {
        principal = undefined;
      }
      if (!principal) return renderLogin(request, reply, 401, "Unknown, revoked or disabled API token.");
      const next = safeNext((request.query as Query).next as string | undefined);
      const session = await openSession(ctx, principal);
      reply.header("set-cookie", [
        serializeCookie(SESSION_COOKIE, session.value, { secure: secure(request), maxAgeS: SESSION_TTL_MS / 1000 }),
        serializeCookie(LOGIN_COOKIE, "", { secure: secure(request), clear: true }),
      ]);
      return reply.redirect(`${next}${next.includes("?") ? "&" : "?"}done=login`, 303);
    });
    web.post("/logout", async (request, reply) => {
      checkAction(request, undefined);
      if (request.webToken) await closeSession(ctx, request.webToken);
      reply.header("set-cookie", serializeCookie(SESSION_COOKIE, "", { secure: secure(request), clear: true }));
      return reply.redirect("/?done=logout", 303);
    });

    // ---- actions: same origin, a session, its CSRF token, the permission
    const checkAction = (request: FastifyRequest, perm: Permission | undefined) => {
      if (!sameOrigin(request.headers)) throw orchestratorError("CSRF_INVALID", "the form was posted from another site");
      if (!request.principal) throw orchestratorError("AUTH_REQUIRED", "log in to do this");
      const form = (request.body ?? {}) as Record<string, string>;
      if (!request.webToken || !checkCsrfToken(request.webToken, form[CSRF_FIELD]))
        throw orchestratorError(
          "CSRF_INVALID",
          "the form's CSRF token is missing or belongs to another session; reload the page and try again",
        );
      if (perm) requirePermission(request.principal, perm);
      return { principal: request.principal, form };
    };
    web.post<{ Params: { id: number } }>("/tasks/:id/cancel", { schema: { params: idParams } }, async (request, reply) => {
      const { principal } = checkAction(request, "build");
      await cancelTask(ctx, principal, request.params.id);
      return reply.redirect(`/tasks/${request.params.id}?done=canceled`, 303);
    });
    web.post<{ Params: { id: number } }>("/tasks/:id/resubmit", { schema: { params: idParams } }, async (request, reply) => {
      const { principal } = checkAction(request, "build");
      const id = await resubmitTask(ctx, principal, request.params.id);
      return reply.redirect(`/tasks/${id}?done=resubmitted`, 303);
    });
    for (const [verb, tagged] of [
      ["tag", true],
      ["untag", false],
    ] as const)
      web.post<{ Params: { id: number } }>(`/builds/:id/${verb}`, { schema: { params: idParams } }, async (request, reply) => {
        const { principal, form } = checkAction(request, "tag");
        const tag = form.tag ?? "";
        await setTagged(ctx, principal, tag, String(request.params.id), tagged);
        await submitNewRepo(ctx, principal, tag);
        return reply.redirect(`/builds/${request.params.id}?done=${tagged ? "tagged" : "untagged"}`, 303);
      });
    web.post<{ Params: { name: string } }>("/tags/:name/regen", { schema: { params: nameParams } }, async (request, reply) => {
      const { principal } = checkAction(request, "repo");
      const id = await submitNewRepo(ctx, principal, request.params.name);
      return reply.redirect(`/tasks/${id}?done=regen`, 303);
    });
  });

  // the pages are not part of the JSON API's OpenAPI document
  if (options.routes) {
    const kept = options.routes.filter((r) => !mine.has(`${r.method} ${r.url}`));
    options.routes.splice(0, options.routes.length, ...kept);
  }
}

function securityHeaders(reply: FastifyReply, nonce: string): void {
  reply.header(
    "content-security-policy",
    `default-src 'none'; style-src 'self' 'nonce-${nonce}'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  );
  reply.header("x-content-type-options", "nosniff");
  reply.header("referrer-policy", "same-origin");
  reply.header("x-frame-options", "DENY");
}

/**
 * A task's log as server-sent events: `chunk` events carry new text (JSON strings) with the byte offset
 * after them as the event id, so a reconnecting EventSource resumes where it stopped (Last-Event-ID);
 * an `end` event with the task's final state closes the stream once the task is over and the log read.
 */
async function streamLog(
  ctx: HubContext,
  request: FastifyRequest<{ Params: { id: number; name: string }; Querystring: { offset?: number } }>,
  reply: FastifyReply,
  nonce: string,
): Promise<void> {
  const name = checkFileName(request.params.name, "log");
  const id = request.params.id;
  const stateOf = async () => (await ctx.db.selectFrom("tasks").select("state").where("id", "=", id).executeTakeFirst())?.state;
  if ((await stateOf()) === undefined) throw orchestratorError("NOT_FOUND", `task ${id} does not exist`);
  const lastEventId = request.headers["last-event-id"];
  let offset = typeof lastEventId === "string" && /^[0-9]{1,15}$/.test(lastEventId) ? Number(lastEventId) : (request.query.offset ?? 0);
  const logPath = join(logDir(ctx, id), name);
  const release = ctx.streams.acquire(streamClient(request));

  securityHeaders(reply, nonce);
  reply.hijack();
  const raw = reply.raw;
  for (const [key, value] of Object.entries(reply.getHeaders())) if (value !== undefined) raw.setHeader(key, value as string);
  raw.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" });
  raw.write("retry: 2000\n\n");
  let closed = false;
  let wake: (() => void) | undefined;
  const onChange = () => wake?.();
  ctx.bus.on("changed", onChange);
  const stop = () => {
    closed = true;
    wake?.();
  };
  request.raw.on("close", stop);
  ctx.closing.addEventListener("abort", stop, { once: true });
  let lastPing = Date.now();
  let lastStateCheck = 0;
  try {
    while (!closed) {
      const { chunk, next } = await readLogFrom(logPath, offset);
      if (chunk.length) {
        offset = next;
        raw.write(`id: ${offset}\nevent: chunk\ndata: ${JSON.stringify(chunk.toString("utf8"))}\n\n`);
        continue;
      }
      const now = Date.now();
      if (now - lastStateCheck > 1000) {
        lastStateCheck = now;
        const state = await stateOf();
        if (state === undefined || isTerminal(state)) {
          const last = await readLogFrom(logPath, offset, { max: 16 * 1024 * 1024, complete: true });
          if (last.chunk.length) raw.write(`id: ${last.next}\nevent: chunk\ndata: ${JSON.stringify(last.chunk.toString("utf8"))}\n\n`);
          raw.write(`event: end\ndata: ${JSON.stringify({ state: state ?? "gone" })}\n\n`);
          break;
        }
      }
      if (now - lastPing > 15_000) {
        raw.write(": keep-alive\n\n");
        lastPing = now;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 250);
      });
      wake = undefined;
    }
  } catch (error) {
    ctx.logger.warn({ err: error, task: id }, "log stream failed");
  } finally {
    release();
    ctx.bus.off("changed", onChange);
    ctx.closing.removeEventListener("abort", stop);
    raw.end();
  }
}
