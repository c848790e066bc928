import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { contractChecksFromEnvironment, type Operation } from "../../api/operation.js";
import { hubOperations, routeTable } from "../../api/routes.js";
import type { HubContext } from "../context.js";
import { buildServer } from "../server.js";
import { registerContractHooks } from "./contract-hooks.js";

const silent = { error() {} };

describe("the hub against its API contract", () => {
  it("registers each contract operation exactly once, and every API route from its operation", async () => {
    // registered against a stub context: the handlers never run
    const { app, routes } = await buildServer({ logger: silent } as unknown as HubContext, {
      publicRead: true,
      bodyLimit: 1024,
      checkResponses: true,
    });
    await app.close();
    // each route was registered from an operation (contract-route.ts), with its method, path and permission
    for (const route of routes) {
      const operation: Operation | undefined = route.operation && hubOperations[route.operation];
      expect([route.method, route.url, route.operation]).toEqual([operation?.method, operation?.path, route.operation]);
      expect(route.perm).toBe(operation?.permission);
    }
    expect(routes.map((r) => r.operation).sort()).toEqual(Object.keys(hubOperations).sort());
    // and so the contract's method and path find each route's entry
    expect(routes.map((r) => `${r.method} ${r.url}`).sort()).toEqual(routeTable.map((r) => `${r.method} ${r.path}`).sort());
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
    expect(contractChecksFromEnvironment()).toBe(true);
  });

  it("checks nothing unless asked", async () => {
    const app = Fastify();
    registerContractHooks(app, { checkResponses: false, logger: silent });
    app.get("/api/v1/whoami", async () => ({ name: 1 }));
    expect((await app.inject("/api/v1/whoami")).statusCode).toBe(200);
    await app.close();
  });
});
