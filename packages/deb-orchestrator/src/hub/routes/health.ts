import type { FastifyPluginAsync } from "fastify";
import { checkDatabase } from "../../db/database.js";
import type { HubContext } from "../context.js";
import { contractRoutes } from "../http/contract-route.js";

/** Liveness: the hub answers and its database too. */
export const healthRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  const route = contractRoutes(app);
  route("health", async () => {
    await checkDatabase(ctx.db);
    return { ok: true, dialect: ctx.dialect };
  });
};
