import type { FastifyPluginAsync } from "fastify";
import { checkDatabase } from "../../db/database.js";
import type { HubContext } from "../context.js";

/** Liveness: the hub answers and its database too. */
export const healthRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.get("/api/v1/health", { config: { summary: "Liveness and database check" } }, async () => {
    await checkDatabase(ctx.db);
    return { ok: true, dialect: ctx.dialect };
  });
};
