import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type StaticServer, serveDirectory } from "./static-server.js";

let dir: string;
let server: StaticServer | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "static-server-"));
  await mkdir(join(dir, "repo", "objects"), { recursive: true });
  await writeFile(join(dir, "repo", "config"), "[core]\nmode=archive-z2\n");
  await writeFile(join(dir, "secret"), "host secret\n");
  await symlink(join(dir, "secret"), join(dir, "repo", "objects", "link"));
});
afterEach(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("the boot test's static file server", () => {
  it("serves files under its root, counts the bytes, and keeps paths and symlinks from leading out", async () => {
    server = await serveDirectory(join(dir, "repo"));
    const base = `http://127.0.0.1:${server.port}`;
    const config = await fetch(`${base}/config`);
    expect(config.status).toBe(200);
    expect(await config.text()).toBe("[core]\nmode=archive-z2\n");
    for (const path of ["/../secret", "/%2e%2e/secret", "/objects/link", "/objects", "/missing"])
      expect((await fetch(`${base}${path}`)).status, path).toBe(404);
    expect((await fetch(`${base}/config`, { method: "POST" })).status).toBe(405);
    const stats = server.stats();
    expect(stats.bytes).toBe(23);
    expect(stats.requests[0]).toEqual({ method: "GET", path: "/config", status: 200, bytes: 23 });
  });
});
