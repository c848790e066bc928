import { createServer, type Server } from "node:http";
import { networkInterfaces } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../testing/test-builds.js";
import { databaseKinds, startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";
import { refusedAddress } from "./webhook-target.js";

/* Webhooks do not make the hub a proxy into itself: local targets need an admin's explicit flag, the
 * check holds at delivery too, and a redirect never takes the signed body elsewhere. */

const databases = useDatabases();

/** A loopback receiver that records what it gets and answers with `status` (and `location`). */
async function receiver(status: number, location?: string): Promise<{ server: Server; url: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      hits.push(`${request.method} ${body.slice(0, 40)}`);
      response.writeHead(status, location ? { location } : {}).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, hits };
}

describe("webhook target addresses", () => {
  it("refuses loopback, link-local, unspecified, multicast and the hub's own addresses, however they are written", () => {
    for (const address of ["127.0.0.1", "127.8.9.10", "::1", "169.254.169.254", "fe80::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1"])
      expect(refusedAddress(address), address).toBeDefined();
    for (const address of ["::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:a9fe:a9fe"]) expect(refusedAddress(address), address).toBeDefined();
    for (const list of Object.values(networkInterfaces()))
      for (const entry of list ?? []) expect(refusedAddress(entry.address), entry.address).toBeDefined();
    // private-use and public addresses that are not the hub's own are allowed
    const own = new Set(Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((e) => e.address)));
    for (const address of ["10.254.1.2", "192.0.2.10", "2001:db8::5"].filter((a) => !own.has(a)))
      expect(refusedAddress(address), address).toBeUndefined();
  });
});

describe.each(databaseKinds)("webhook targets on %s", (kind) => {
  let test: TestHub;
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) server.close();
    await test?.close();
  });
  const secret = "a-shared-secret-value";

  it("refuses local targets when the webhook is added, unless the admin allows them", async () => {
    test = await startTestHub(databases, kind);
    for (const url of [
      "http://127.0.0.1:8470/hook",
      "http://[::1]:8470/",
      "http://[::ffff:127.0.0.1]/",
      "http://169.254.169.254/latest/meta-data/",
      "http://0.0.0.0:80/",
      "http://localhost:8470/",
      new URL(test.hub.url).toString(),
    ])
      await expect(test.admin.post("/api/v1/webhooks", { url, secret }), url).rejects.toMatchObject({ code: "WEBHOOK_TARGET_REFUSED" });
    const { id } = await test.admin.post<{ id: number }>("/api/v1/webhooks", { url: "http://127.0.0.1:9/hook", secret, allowLocal: true });
    expect((await test.admin.get<{ id: number; allowLocal: boolean }[]>("/api/v1/webhooks")).find((w) => w.id === id)?.allowLocal).toBe(
      true,
    );
    // only admins add webhooks at all
    const builder = await test.user("alice", ["build"]);
    await expect(builder.post("/api/v1/webhooks", { url: "http://127.0.0.1:9/", secret, allowLocal: true })).rejects.toMatchObject({
      code: "PERMISSION_DENIED",
    });
  });

  it("checks the target again at delivery (the address may have changed) and delivers nothing to a refused one", async () => {
    test = await startTestHub(databases, kind, { webhookBackoffMs: 50 });
    const target = await receiver(204);
    servers.push(target.server);
    // rows as a webhook created while its name still resolved elsewhere would look
    for (const url of [target.url, target.url.replace("127.0.0.1", "localhost")])
      await test.hub.ctx.db
        .insertInto("webhooks")
        .values({ url, secret, kinds: "", cursor: 0, enabled: 1, failures: 0, created_at: 0, allow_local: 0 })
        .execute();
    await test.admin.post("/api/v1/tags", { name: "wake-up" });
    const hooks = await until(
      async () => {
        const list = await test.admin.get<{ failures: number; lastError: string | null }[]>("/api/v1/webhooks");
        return list.every((h) => h.failures > 0) && list;
      },
      20_000,
      "both deliveries to be refused",
    );
    for (const hook of hooks) expect(hook.lastError).toMatch(/refused/);
    expect(target.hits).toEqual([]);
  });

  it("never follows a redirect with the signed body", async () => {
    test = await startTestHub(databases, kind, { webhookBackoffMs: 50 });
    const elsewhere = await receiver(204);
    const redirecting = await receiver(307, elsewhere.url);
    servers.push(elsewhere.server, redirecting.server);
    await test.admin.post("/api/v1/webhooks", { url: redirecting.url, secret, allowLocal: true });
    await test.admin.post("/api/v1/tags", { name: "redirected" });
    const [hook] = await until(
      async () => {
        const list = await test.admin.get<{ failures: number; lastError: string | null }[]>("/api/v1/webhooks");
        return list[0] && list[0].failures >= 2 && list;
      },
      20_000,
      "two refused deliveries",
    );
    expect(hook?.lastError).toMatch(/307.*never follow redirects/);
    expect(redirecting.hits.length).toBeGreaterThanOrEqual(2);
    expect(elsewhere.hits).toEqual([]);
  });
});
