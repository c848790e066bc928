import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { Builder } from "../builder/builder.js";
import { DebMockRunner } from "../builder/deb-mock-runner.js";
import { type HubOptions, type RunningHub, startHub } from "../hub/hub.js";
import { RawHubClient } from "./raw-hub-client.js";

export interface RealHub {
  /** A temporary directory of the describe block: the hub's database and data, the builder's work, the test's files. */
  dir: string;
  hub: RunningHub;
  admin: RawHubClient;
  builder: Builder;
}

/**
 * For the system tests that build real sources: a hub (SQLite) and one amd64 builder, `builder-1`,
 * building with deb-mock. After the describe block's tests the builder stops, the hub closes and the
 * directory goes.
 */
export function useRealHub(name: string): (options?: { capacity?: number; hub?: Partial<HubOptions> }) => Promise<RealHub> {
  let started: Partial<RealHub> = {};
  afterAll(async () => {
    await started.builder?.stop(1000);
    await started.hub?.close();
    if (started.dir) await rm(started.dir, { recursive: true, force: true });
  });
  return async (options = {}) => {
    const dir = await mkdtemp(join(tmpdir(), `deb-orchestrator-${name}-`));
    started = { dir };
    const hub = await startHub({ db: `sqlite:${join(dir, "hub.db")}`, dataDir: join(dir, "data"), ...options.hub });
    started.hub = hub;
    const admin = new RawHubClient({ url: hub.url, token: (await readFile(hub.adminTokenFile, "utf8")).trim() });
    await admin.createUser("builder-1", ["host"]);
    const { token } = await admin.createToken("builder-1", { label: "test" });
    const builder = new Builder({
      client: new RawHubClient({ url: hub.url, token }),
      name: "builder-1",
      arches: ["amd64"],
      capacity: options.capacity ?? 1,
      runner: new DebMockRunner(),
      workDir: join(dir, "work"),
    });
    started.builder = builder;
    await builder.start();
    return { dir, hub, admin, builder };
  };
}
