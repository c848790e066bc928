import type {
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
  RouteGenericInterface,
  RouteHandlerMethod,
} from "fastify";
import type { Operation } from "../../api/operation.js";
import { hubOperations, type OperationId } from "../../api/routes.js";

/* A route of the hub's API is registered from its contract operation (src/api): the method, path,
 * permission and summary are the operation's, so no route file spells a path its contract could
 * disagree with (a route and its contract entry are matched by method and path). */

declare module "fastify" {
  interface FastifyContextConfig {
    /** The contract operation a route serves (absent on routes outside the API contract, such as the web UI's). */
    operation?: OperationId;
  }
}

/** A route handler with the request types `G` (Params, Querystring, Body). */
export type ContractHandler<G extends RouteGenericInterface> = RouteHandlerMethod<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  G
>;

export interface ContractRouteOptions {
  /** A larger request body than the hub's default (an operation whose requests are large by nature). */
  bodyLimit?: number;
}

/**
 * The registrar of a routes plugin: `route(id, handler)` serves the contract operation `id` with `handler`.
 * The request's types stay the handler's own (`route<{ Params: { id: number } }>(...)`).
 */
export function contractRoutes(app: FastifyInstance) {
  return <G extends RouteGenericInterface = RouteGenericInterface>(
    id: OperationId,
    handler: ContractHandler<G>,
    options: ContractRouteOptions = {},
  ): void => {
    const operation: Operation = hubOperations[id];
    app.route<G>({
      method: operation.method,
      url: operation.path,
      ...(options.bodyLimit === undefined ? {} : { bodyLimit: options.bodyLimit }),
      config: { operation: id, summary: operation.summary, ...(operation.permission ? { perm: operation.permission } : {}) },
      handler,
    });
  };
}
