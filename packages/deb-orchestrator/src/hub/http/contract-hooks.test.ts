import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { findRoute, routeTable } from "../../api/routes.js";
import type { HubContext } from "../context.js";
import { buildServer } from "../server.js";
import { checkResponsesFromEnvironment, registerContractHooks } from "./contract-hooks.js";

const silent = { error() {} };

describe("the hub against its API contract", () => {
  it("has a contract entry for every API route it registers, and a route for every entry", async () => {
    // registered against a stub context: the handlers never run
    const { app, routes } = await buildServer({ logger: silent } as unknown as HubContext, {
      publicRead: true,
      bodyLimit: 1024,
      checkResponses: true,
    });
    await app.close();
    const registered = routes.map((r) => `${r.method} ${r.url}`).sort();
    const contract = routeTable.map((r) => `${r.method} ${r.path}`).sort();
    expect(registered).toEqual(contract);
    expect(new Set(routeTable.map((r) => r.id)).size).toBe(routeTable.length);
  });

  it("declares the same parameters, query fields and body fields, required or not, as the routes validate", async () => {
    const { app, routes } = await buildServer({ logger: silent } as unknown as HubContext, { publicRead: true, bodyLimit: 1024 });
    await app.close();
    type Shape = { properties?: Record<string, unknown>; required?: string[] };
    const fields = (schema: Shape | undefined) => ({
      properties: Object.keys(schema?.properties ?? {}).sort(),
      required: [...(schema?.required ?? [])].sort(),
    });
    const contractShape = (schema: z.ZodType | undefined): Shape | undefined => {
      if (!schema) return undefined;
      const json = z.toJSONSchema(schema, { io: "input" }) as Shape & { anyOf?: Shape[] };
      return json.anyOf?.find((s) => s.properties) ?? json; // an optional body
    };
    let compared = 0;
    for (const route of routes) {
      const entry = findRoute(route.method, route.url);
      const schema = (route.schema ?? {}) as Record<string, Shape | undefined>;
      for (const [where, declared] of [
        ["params", entry?.params],
        ["querystring", entry?.query],
        ["body", entry?.bodyType ? undefined : entry?.body],
      ] as const) {
        if (where === "params" && !schema.params) continue; // Fastify reads unvalidated params (/repos/*) as strings
        expect(fields(contractShape(declared)), `${route.method} ${route.url} ${where}`).toEqual(fields(schema[where]));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(100);
  });

  it("turns an answer that breaks the contract into a 500 with its own code, and logs it", async () => {
    const logged: unknown[] = [];
    const app = Fastify();
    registerContractHooks(app, { checkResponses: true, logger: { error: (entry: unknown) => logged.push(entry) } });
    let answer: unknown = { name: "alice", perms: ["build"] };
    app.get("/api/v1/whoami", async () => answer);
    app.get("/api/v1/unknown", async () => ({ ok: true }));
    expect((await app.inject("/api/v1/whoami")).statusCode).toBe(200);

    answer = { name: "alice", perms: "build" };
    const wrongType = await app.inject("/api/v1/whoami");
    expect(wrongType.statusCode).toBe(500);
    expect(wrongType.json()).toMatchObject({ code: "RESPONSE_CONTRACT_VIOLATED", message: expect.stringContaining("perms") });

    answer = { name: "alice", perms: [], token: "secret" };
    const extra = await app.inject("/api/v1/whoami");
    expect(extra.json()).toMatchObject({ code: "RESPONSE_CONTRACT_VIOLATED", message: expect.stringContaining("token") });

    expect((await app.inject("/api/v1/unknown")).json()).toMatchObject({ code: "RESPONSE_CONTRACT_VIOLATED" });
    expect(logged).toHaveLength(3);
    await app.close();
  });

  it("is on for every hub the test suite starts (vitest sets DEB_ORCHESTRATOR_CHECK_RESPONSES=1)", () => {
    expect(checkResponsesFromEnvironment()).toBe(true);
  });

  it("checks nothing unless asked", async () => {
    const app = Fastify();
    registerContractHooks(app, { checkResponses: false, logger: silent });
    app.get("/api/v1/whoami", async () => ({ name: 1 }));
    expect((await app.inject("/api/v1/whoami")).statusCode).toBe(200);
    await app.close();
  });
});
