import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HubClient } from "./hub-client.js";

/** A hub that answers every request with the same JSON, whatever the contract says. */
let answer: unknown;
let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const offContract = { task: { id: "seven" }, extra: true };

describe("HubClient's answer checks", () => {
  it("refuses an answer outside the contract with HUB_ERROR, and drops fields the contract does not know", async () => {
    const client = new HubClient({ url, checkAnswers: false });
    answer = { name: 7 };
    await expect(client.getTag("dest")).rejects.toMatchObject({ code: "HUB_ERROR" });
    answer = { name: "alice", perms: ["build"], token: "secret" };
    expect(await client.whoami()).toEqual({ name: "alice", perms: ["build"] });
  });

  it("takes the builder protocol's answers as they come unless asked to check them", async () => {
    answer = offContract;
    const unchecked = new HubClient({ url, checkAnswers: false });
    expect(await unchecked.claim("b1", { session: "s1", waitMs: 0 })).toEqual(offContract);
    const checked = new HubClient({ url, checkAnswers: true });
    await expect(checked.claim("b1", { session: "s1", waitMs: 0 })).rejects.toMatchObject({ code: "HUB_ERROR" });
  });

  it("checks them in the test suite (vitest sets DEB_ORCHESTRATOR_CHECK_RESPONSES=1)", async () => {
    answer = offContract;
    await expect(new HubClient({ url }).heartbeat("b1", { session: "s1", load: 0, tasks: [] })).rejects.toMatchObject({
      code: "HUB_ERROR",
    });
  });
});
