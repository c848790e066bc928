/**
 * The hub checks its answers against the API contract (src/api): each request is matched to its route
 * table entry by the registered route and method, and with `checkResponses` every 2xx JSON answer is
 * parsed with the entry's response schema. A mismatch is a bug, so it fails loudly: a 500 with its own
 * code and a log line naming the field. Test hubs run with it on, so every answer the test suite receives
 * is checked.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { findRoute, type RouteEntry } from "../../api/routes.js";
import { orchestratorError } from "../../errors.js";
import type { HubContext } from "../context.js";

/** On in the test suite (vitest sets it) and wherever an operator asks for it. */
export function checkResponsesFromEnvironment(): boolean {
  return process.env.DEB_ORCHESTRATOR_CHECK_RESPONSES === "1";
}

/** The contract entry a request was routed to, if any (web UI pages have none); HEAD answers as its GET. */
export function contractEntry(request: FastifyRequest): RouteEntry | undefined {
  const url = request.routeOptions.url;
  if (url === undefined) return undefined;
  return findRoute(request.method, url) ?? (request.method === "HEAD" ? findRoute("GET", url) : undefined);
}

function isApi(request: FastifyRequest): boolean {
  const url = request.routeOptions.url ?? "";
  return url.startsWith("/api/") || url.startsWith("/repos/");
}

export function registerContractHooks(
  app: FastifyInstance,
  options: { checkResponses: boolean; logger: Pick<HubContext["logger"], "error"> },
): void {
  if (!options.checkResponses) return;
  app.addHook("preSerialization", async (request, reply, payload) => {
    if (reply.statusCode < 200 || reply.statusCode >= 300 || !isApi(request)) return payload;
    const problem = answerProblem(contractEntry(request), payload);
    if (problem === undefined) return payload;
    options.logger.error({ route: `${request.method} ${request.routeOptions.url}`, problem }, "answer violates the API contract");
    throw orchestratorError(
      "RESPONSE_CONTRACT_VIOLATED",
      `the hub's answer to ${request.method} ${request.routeOptions.url} violates its API contract: ${problem}`,
    );
  });
}

/** What is wrong with a 2xx JSON answer by its contract entry, or undefined when it matches. */
export function answerProblem(entry: RouteEntry | undefined, payload: unknown): string | undefined {
  if (!entry) return "the route has no entry in the API contract";
  if (!entry.response) return `${entry.id} does not answer JSON by its contract`;
  const sent: unknown = JSON.parse(JSON.stringify(payload) ?? "null");
  const parsed = entry.response.safeParse(sent);
  if (!parsed.success) return `${entry.id}: ${z.prettifyError(parsed.error)}`;
  const undeclared = undeclaredFields(sent, parsed.data, "");
  return undeclared.length ? `${entry.id}: fields not in the contract: ${undeclared.join(", ")}` : undefined;
}

/** Fields of the answer the schema dropped (it declares objects as closed unless they are loose). */
function undeclaredFields(sent: unknown, kept: unknown, path: string): string[] {
  if (Array.isArray(sent) && Array.isArray(kept)) return sent.flatMap((item, i) => undeclaredFields(item, kept[i], `${path}[${i}]`));
  if (!isRecord(sent) || !isRecord(kept)) return [];
  return Object.keys(sent).flatMap((key) =>
    key in kept ? undeclaredFields(sent[key], kept[key], path ? `${path}.${key}` : key) : [path ? `${path}.${key}` : key],
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
