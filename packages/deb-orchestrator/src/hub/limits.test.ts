import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import type { HubClient } from "../client/hub-client.js";
import { submitBuild, until, writeSourcePackage } from "../testing/test-builds.js";
import { databaseKinds, startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";
import { StreamGate } from "./limits.js";

/* Every limit answers with a coded 429 or 413 and is set per hub; the tests use small ones. */

const databases = useDatabases();

describe("stream gate", () => {
  it("counts per client and in total, and a slot given back twice is given back once", () => {
    const gate = new StreamGate({ maxStreams: 3, maxStreamsPerClient: 2 });
    const a1 = gate.acquire("a");
    gate.acquire("a");
    expect(() => gate.acquire("a")).toThrow(expect.objectContaining({ code: "TOO_MANY_STREAMS" }));
    gate.acquire("b");
    expect(() => gate.acquire("c")).toThrow(expect.objectContaining({ code: "TOO_MANY_STREAMS" }));
    a1();
    a1();
    gate.acquire("c");
    expect(() => gate.acquire("d")).toThrow(expect.objectContaining({ code: "TOO_MANY_STREAMS" }));
  });
});

describe.each(databaseKinds)("limits on %s", (kind) => {
  let test: TestHub;
  const open: AbortController[] = [];
  afterEach(async () => {
    for (const controller of open.splice(0)) controller.abort();
    await test?.close();
  });

  /** Open a stream and keep it open; returns its status (and code when refused). */
  async function stream(path: string, headers: Record<string, string> = {}): Promise<{ status: number; code?: string }> {
    const controller = new AbortController();
    const response = await fetch(`${test.hub.url}${path}`, { headers, signal: controller.signal });
    if (response.status === 200) {
      open.push(controller);
      const reader = response.body!.getReader();
      void reader.read().catch(() => {}); // the stream has started
      return { status: 200 };
    }
    // the API answers JSON, the web UI an error page: both name the code
    const text = await response.text();
    return { status: response.status, code: /TOO_MANY_STREAMS/.exec(text)?.[0] ?? text.slice(0, 100) };
  }

  it("refuses event and log streams past the per-client and total limits with 429, and frees them on close", async () => {
    test = await startTestHub(databases, kind, { limits: { maxStreams: 4, maxStreamsPerClient: 2 } });
    const { task } = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64" }); // stays free
    const bearer = { authorization: `Bearer ${test.adminToken}` };
    // anonymous readers count by address: two streams, then 429
    expect(await stream("/api/v1/events/stream")).toEqual({ status: 200 });
    expect(await stream(`/api/v1/tasks/${task}/logs/build.log?follow=true`)).toEqual({ status: 200 });
    expect(await stream("/api/v1/events/stream")).toEqual({ status: 429, code: "TOO_MANY_STREAMS" });
    expect(await stream(`/tasks/${task}/logs/build.log/events`)).toEqual({ status: 429, code: "TOO_MANY_STREAMS" });
    // another client still gets its own, until the hub's total is reached
    expect(await stream("/api/v1/events/stream", bearer)).toEqual({ status: 200 });
    expect(await stream(`/tasks/${task}/logs/build.log/events`, bearer)).toEqual({ status: 200 });
    const alice = await test.user("alice", []);
    const aliceHeaders = { authorization: `Bearer ${(alice as unknown as { token: string }).token}` };
    expect(await stream("/api/v1/events/stream", aliceHeaders)).toEqual({ status: 429, code: "TOO_MANY_STREAMS" });
    // closing streams gives their slots back
    open.shift()!.abort();
    await until(async () => (await stream("/api/v1/events/stream", aliceHeaders)).status === 200, 10_000, "a freed slot");
    // plain reads are no streams and are never refused
    expect((await fetch(`${test.hub.url}/api/v1/tasks/${task}/logs/build.log`)).status).toBe(200);
  });

  it("caps a task's logs with 413 and writes nothing of the refused chunk", async () => {
    test = await startTestHub(databases, kind, { limits: { maxTaskLogBytes: 1000 } });
    const host = await test.user("h1", ["host"]);
    await host.post("/api/v1/hosts/h1/checkin", { session: "s1", arches: ["amd64"], capacity: 1 });
    await test.admin.post("/api/v1/tasks", { method: "noop", arch: "amd64" });
    const { task } = await host.post<{ task: { id: number } }>("/api/v1/hosts/h1/claim", { session: "s1", waitMs: 5000, start: true });
    const append = (log: string, bytes: number) =>
      fetch(`${test.hub.url}/api/v1/hosts/h1/tasks/${task.id}/logs/${log}?session=s1`, {
        method: "POST",
        headers: { authorization: `Bearer ${(host as unknown as { token: string }).token}`, "content-type": "text/plain" },
        body: "x".repeat(bytes),
      });
    expect((await append("build.log", 600)).status).toBe(200);
    const refused = await append("other.log", 600);
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as { code: string }).code).toBe("LOG_TOO_LARGE");
    expect((await append("build.log", 400)).status).toBe(200);
    expect((await append("build.log", 1)).status).toBe(413);
    const logs = await test.admin.get<{ name: string; size: number }[]>(`/api/v1/tasks/${task.id}/logs`);
    expect(logs.reduce((sum, log) => sum + log.size, 0)).toBe(1000);
  });

  it("holds each user to an upload quota with 413 and removes uploads no build used after the grace period", async () => {
    test = await startTestHub(databases, kind, { limits: { uploadQuotaBytes: 1000, uploadGraceMs: 60 * 60_000 } });
    const alice = await test.user("alice", ["build"]);
    const bob = await test.user("bob", ["build"]);
    const upload = (client: HubClient, bytes: number) => client.uploadBuffer(randomBytes(bytes));
    // uploads a build uses no longer count
    await test.admin.post("/api/v1/tags", { name: "base", arches: ["amd64"] });
    await test.admin.post("/api/v1/targets", { name: "t", buildTag: "base", destTag: "base" });
    const source = await writeSourcePackage(test.dir, "quota", "1.0-1");
    await submitBuild(alice, "t", source);
    const first = await upload(alice, 600);
    await expect(upload(alice, 600)).rejects.toMatchObject({ code: "UPLOAD_QUOTA_EXCEEDED" });
    const put = await fetch(`${test.hub.url}/api/v1/artifacts/${"0".repeat(64)}?size=600`, {
      method: "PUT",
      headers: { authorization: `Bearer ${(alice as unknown as { token: string }).token}`, "content-type": "application/octet-stream" },
      body: new Uint8Array(600),
    });
    expect(put.status).toBe(413);
    // the quota is per user
    await upload(bob, 600);
    const sourceHashes = [];
    for (const file of source.files)
      sourceHashes.push(
        createHash("sha256")
          .update(await readFile(file))
          .digest("hex"),
      );

    // after the grace period: unused uploads are gone, used ones stay
    await test.restart({ limits: { uploadQuotaBytes: 1000, uploadGraceMs: 100 } });
    await until(
      async () => (await test.hub.ctx.db.selectFrom("uploads").selectAll().execute()).length === 0,
      10_000,
      "every upload record to be swept",
    );
    expect(await test.hub.ctx.store.has(first.sha256)).toBe(false);
    for (const sha256 of sourceHashes) expect(await test.hub.ctx.store.has(sha256)).toBe(true);
    await upload(alice, 900);
  });
});
