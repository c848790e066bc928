import { CodedError, httpStatusFor } from "@debian-bootc/core";
import type { FastifyInstance } from "fastify";
import type { HubContext } from "../context.js";
import { publicErrorJson } from "../host-paths.js";

type RouteError = Error & { statusCode?: number; code?: string; validation?: unknown; validationContext?: string };

/**
 * Every error leaves the API as `{code, message}` with a status: a coded error by its category, a schema
 * violation as REQUEST_INVALID, Fastify's own 4xx by theirs; anything else is logged and answered 500
 * without details. An unknown URL is ROUTE_NOT_FOUND.
 */
export function replyWithCodedErrors(app: FastifyInstance, ctx: HubContext): void {
  app.setErrorHandler((error: RouteError, request, reply) => {
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
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ code: "ROUTE_NOT_FOUND", message: `no endpoint ${request.method} ${request.url.split("?")[0]?.slice(0, 200)}` }),
  );
}
