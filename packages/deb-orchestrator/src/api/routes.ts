/** The route table: every operation of the hub's HTTP API, by id. */
import { artifactOperations } from "./artifacts.js";
import { builderOperations } from "./builder-protocol.js";
import { buildOperations } from "./builds.js";
import { composeOperations } from "./composes.js";
import { eventOperations, webhookOperations } from "./events.js";
import { identityOperations } from "./identity.js";
import type { Operation } from "./operation.js";
import { repositoryOperations } from "./repositories.js";
import { tagOperations } from "./tags.js";
import { taskOperations } from "./tasks.js";

export const hubOperations = {
  ...identityOperations,
  ...tagOperations,
  ...buildOperations,
  ...taskOperations,
  ...artifactOperations,
  ...builderOperations,
  ...eventOperations,
  ...webhookOperations,
  ...repositoryOperations,
  ...composeOperations,
} as const;
export type HubOperations = typeof hubOperations;
export type OperationId = keyof HubOperations;

export interface RouteEntry extends Operation {
  readonly id: OperationId;
}

export const routeTable: readonly RouteEntry[] = Object.entries(hubOperations).map(([id, operation]) => ({
  id: id as OperationId,
  ...(operation as Operation),
}));

const byRoute = new Map(routeTable.map((entry) => [routeKey(entry.method, entry.path), entry]));

function routeKey(method: string, path: string): string {
  return `${method} ${path}`;
}

/** The contract's entry for a registered route (its Fastify URL pattern, not the request's URL). */
export function findRoute(method: string, path: string): RouteEntry | undefined {
  return byRoute.get(routeKey(method, path));
}

/**
 * An operation's URL path with its parameters filled in, each one URL-encoded (so a NAME/VERSION build
 * reference stays one segment), and its query string (arrays as repeated keys, undefined left out).
 */
export function operationUrl(operation: Operation, params: Record<string, unknown> = {}, query: Record<string, unknown> = {}): string {
  const path = operation.path
    .replace(/:([A-Za-z0-9_]+)/g, (_match, key: string) => encodeURIComponent(String(params[key])))
    .replace(/\*$/, () => String(params["*"] ?? "").replace(/^\//, ""));
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query))
    for (const item of [value].flat()) if (item !== undefined) search.append(key, String(item));
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}

/** The path of a hub operation named by its id, for a link to it (the web UI's downloads and raw logs). */
export function apiUrl(id: OperationId, params: Record<string, unknown> = {}): string {
  return operationUrl(hubOperations[id] as Operation, params);
}
