import { describe, expect, it } from "vitest";
import type { Builder } from "../builder/builder.js";
import { createTarget, submitBuild, until, waitForTask, writeSourcePackage } from "../testing/test-builds.js";
import { databaseKinds, startNoopBuilder, startTestHub, type TestHub, useBuilders, useDatabases } from "../testing/test-hub.js";

/* The hub's HTTP surface as an anonymous reader or a browser meets it: HEAD answers like GET, and every
 * download is inert in the web UI's origin. */

const databases = useDatabases();

interface BuiltTask {
  buildArch: number;
  log: string;
  file: { name: string; sha256: string };
  build: number;
}

/** One build through a no-op builder, tagged into a published repository: a task with logs and files. */
async function buildOnce(test: TestHub, builders: Builder[]): Promise<BuiltTask> {
  await createTarget(test.admin);
  builders.push(await startNoopBuilder(test, "builder-1"));
  const taskId = await submitBuild(test.admin, "t", await writeSourcePackage(test.dir, "hello", "1.0-1"));
  expect((await waitForTask(test.admin, taskId)).state).toBe("closed");
  const children = await test.admin.get<{ id: number; method: string }[]>(`/api/v1/tasks?parent=${taskId}`);
  const buildArch = children.find((t) => t.method === "buildArch")!.id;
  const task = await test.admin.get<{ files: { name: string; sha256: string }[]; logs: { name: string }[]; build: number }>(
    `/api/v1/tasks/${buildArch}`,
  );
  await until(async () => (await fetch(`${test.hub.url}/repos/dest/latest/dists/`, { headers: auth(test) })).ok, 20_000, "the repo");
  return { buildArch, log: task.logs[0]!.name, file: task.files[0]!, build: task.build };
}

const auth = (test: TestHub) => ({ authorization: `Bearer ${test.adminToken}` });

/** A concrete URL for every route pattern, naming objects that exist. */
function concrete(url: string, built: BuiltTask): string {
  return url
    .replace(":id", String(built.buildArch))
    .replace(":sha256", built.file.sha256)
    .replace(":phase", "init")
    .replace(":ref", String(built.build))
    .replace(/\/logs\/:name$/, `/logs/${built.log}`)
    .replace(/\/files\/:name$/, `/files/${built.file.name}`)
    .replace("/tags/:name/latest/:pkg", "/tags/dest/latest/hello")
    .replace("/users/:name", "/users/admin")
    .replace(":name", "dest")
    .replace(/\*$/, "dest/latest/dists/dest/Release");
}

describe.each(databaseKinds)("the HTTP surface on %s", (kind) => {
  let test: TestHub;
  const builders = useBuilders(() => test);

  it("answers HEAD exactly as GET for an anonymous reader of a private hub, on every GET route", async () => {
    test = await startTestHub(databases, kind, { publicRead: false });
    const built = await buildOnce(test, builders);
    const gets = test.hub.routes.filter((r) => r.method === "GET");
    expect(gets.length).toBeGreaterThan(20);
    const compared: string[] = [];
    for (const route of gets) {
      const url = `${test.hub.url}${concrete(route.url, built)}`;
      const get = await fetch(url, { signal: AbortSignal.timeout(5000) });
      await get.body?.cancel();
      const head = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(5000) });
      expect(`${route.url} HEAD ${head.status}`).toBe(`${route.url} HEAD ${get.status}`);
      if (!route.url.startsWith("/api/v1/health")) expect(`${route.url} GET ${get.status}`).toBe(`${route.url} GET 401`);
      expect(head.headers.get("x-sha256")).toBeNull();
      compared.push(route.url);
    }
    // the leaks the review found are among them
    for (const leak of ["/api/v1/tasks/:id", "/api/v1/tasks/:id/files/:name", "/api/v1/artifacts/:sha256", "/repos/key.asc"])
      expect(compared).toContain(leak);
    // and the same requests with a token still answer
    const head = await fetch(`${test.hub.url}/api/v1/tasks/${built.buildArch}/files/${built.file.name}`, {
      method: "HEAD",
      headers: auth(test),
    });
    expect(head.status).toBe(200);
  });

  it("serves every download with nosniff, a sandbox policy and a content disposition", async () => {
    test = await startTestHub(databases, kind);
    const built = await buildOnce(test, builders);
    const downloads: [string, string][] = [
      [`/api/v1/tasks/${built.buildArch}/logs/${built.log}`, `inline; filename="${built.log}"`],
      [`/api/v1/tasks/${built.buildArch}/logs/${built.log}?follow=true`, `inline; filename="${built.log}"`],
      [`/api/v1/tasks/${built.buildArch}/files/${built.file.name}`, `attachment; filename="${built.file.name}"`],
      [`/api/v1/artifacts/${built.file.sha256}`, "attachment"],
      ["/repos/dest/latest/dists/dest/Release", 'inline; filename="Release"'],
    ];
    for (const [path, disposition] of downloads)
      for (const method of ["GET", "HEAD"]) {
        const response = await fetch(`${test.hub.url}${path}`, { method });
        await response.body?.cancel();
        expect(`${method} ${path} ${response.status}`).toBe(`${method} ${path} 200`);
        expect(response.headers.get("x-content-type-options")).toBe("nosniff");
        expect(response.headers.get("content-security-policy")).toContain("sandbox");
        expect(response.headers.get("content-disposition")).toBe(disposition);
      }
    // JSON answers are never sniffed either
    const json = await fetch(`${test.hub.url}/api/v1/tasks/${built.buildArch}`);
    expect(json.headers.get("x-content-type-options")).toBe("nosniff");
  });
});
