import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import type { HubContext } from "../context.js";
import { replyWithCodedErrors } from "./errors.js";
import { requestAjvOptions, validateRequestsByContract } from "./request-schemas.js";

/** Routes declared without any schema of their own, validated from their entries in the API contract. */
async function appWithContractRoutes() {
  const app = Fastify({ ajv: requestAjvOptions });
  validateRequestsByContract(app);
  replyWithCodedErrors(app, { logger: { error() {} }, dataDir: "/nonexistent" } as unknown as HubContext);
  const echo = async (request: { params: unknown; query: unknown; body: unknown }) => ({
    params: request.params,
    query: request.query,
    body: request.body ?? null,
  });
  app.post("/api/v1/tags/:name/builds", echo);
  app.get("/api/v1/tasks", echo);
  app.get("/api/v1/tasks/:id", echo);
  app.post("/api/v1/hosts/:name/tasks/:id/complete", echo);
  app.get("/web/not-in-the-contract", echo);
  await app.ready();
  return app;
}

describe("request validation from the API contract", () => {
  it("refuses what the contract does not allow with 400 REQUEST_INVALID, before the handler", async () => {
    const app = await appWithContractRoutes();
    const refused = [
      await app.inject({ method: "POST", url: "/api/v1/tags/dest/builds", payload: {} }),
      await app.inject({ method: "POST", url: "/api/v1/tags/dest/builds", payload: { build: "hello/1", extra: 1 } }),
      await app.inject({ method: "POST", url: "/api/v1/tags/dest/builds", payload: { build: "x".repeat(301) } }),
      await app.inject({ method: "POST", url: `/api/v1/tags/${"n".repeat(65)}/builds`, payload: { build: "hello/1" } }),
      await app.inject({ method: "GET", url: "/api/v1/tasks/abc" }),
      await app.inject({ method: "GET", url: "/api/v1/tasks?state=sleeping" }),
      await app.inject({ method: "GET", url: "/api/v1/tasks?limit=0" }),
    ];
    for (const answer of refused) {
      expect(answer.statusCode, answer.body).toBe(400);
      expect(answer.json()).toMatchObject({ code: "REQUEST_INVALID", message: expect.any(String) });
    }
    expect(refused[1]?.json().message).toContain("additional properties");
    await app.close();
  });

  it("hands the handler typed values: numbers and booleans from the URL, arrays from repeated keys", async () => {
    const app = await appWithContractRoutes();
    const listed = await app.inject({ method: "GET", url: "/api/v1/tasks?state=free&limit=5&top=true" });
    expect(listed.json()).toEqual({ params: {}, query: { state: ["free"], limit: 5, top: true }, body: null });
    expect((await app.inject({ method: "GET", url: "/api/v1/tasks/7" })).json().params).toEqual({ id: 7 });
    expect((await app.inject({ method: "HEAD", url: "/api/v1/tasks/abc" })).statusCode).toBe(400);
    await app.close();
  });

  it("keeps the objects the contract declares loose open (a task's result), and leaves routes outside it alone", async () => {
    const app = await appWithContractRoutes();
    const result = { files: [], custom: { anything: 1 } };
    const completed = await app.inject({
      method: "POST",
      url: "/api/v1/hosts/b1/tasks/3/complete",
      payload: { session: "s1", result },
    });
    expect(completed.json().body).toEqual({ session: "s1", result });
    const unchecked = await app.inject({ method: "GET", url: "/web/not-in-the-contract?anything=1" });
    expect(unchecked.json().query).toEqual({ anything: "1" });
    await app.close();
  });
});
