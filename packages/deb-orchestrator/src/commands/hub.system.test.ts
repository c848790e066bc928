import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { freePort, spawnCli, stopProcess } from "../testing/processes.js";
import { until } from "../testing/test-builds.js";

let dir: string | undefined;
let hub: ReturnType<typeof spawnCli> | undefined;
afterEach(async () => {
  await stopProcess(hub);
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("hub --web-private asks for a login on the pages while the JSON API stays public", async () => {
  dir = await mkdtemp(join(tmpdir(), "deb-orchestrator-hub-cli-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  hub = spawnCli(["hub", "--data", join(dir, "data"), "--listen", `127.0.0.1:${port}`, "--no-sign", "--web-private"], join(dir, "hub.log"));
  await until(async () => (await fetch(`${url}/api/v1/health`).catch(() => undefined))?.ok, 60_000, "the hub to answer");
  const page = await fetch(`${url}/tasks`);
  expect(page.status).toBe(401);
  expect(await page.text()).toContain('action="/login?next=%2Ftasks"');
  expect((await fetch(`${url}/api/v1/tasks`)).status).toBe(200);
});

it("hub serves the OSTree repositories published into hub.yaml's ostree directory at /ostree/NAME/, read-only", async () => {
  dir = await mkdtemp(join(tmpdir(), "deb-orchestrator-hub-cli-"));
  const published = join(dir, "ostree");
  await mkdir(join(published, "demo"), { recursive: true });
  await writeFile(join(published, "demo", "config"), "[core]\nrepo_version=1\nmode=archive-z2\n");
  // as the packaged service runs it: every setting from the configuration file
  const config = join(dir, "hub.yaml");
  await writeFile(config, `ostree: ${published}\nsign: false\n`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  hub = spawnCli(["hub", "--config-file", config, "--data", join(dir, "data"), "--listen", `127.0.0.1:${port}`], join(dir, "hub.log"));
  await until(async () => (await fetch(`${url}/api/v1/health`).catch(() => undefined))?.ok, 60_000, "the hub to answer");
  const served = await fetch(`${url}/ostree/demo/config`);
  expect(served.status).toBe(200);
  expect(await served.text()).toBe("[core]\nrepo_version=1\nmode=archive-z2\n");
  expect((await fetch(`${url}/ostree/demo/config`, { method: "PUT", body: "x" })).status).toBeGreaterThanOrEqual(400);
  expect((await fetch(`${url}/ostree/other/config`)).status).toBe(404);
});
