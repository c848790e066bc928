import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach } from "vitest";
import type { Permission } from "../api/operation.js";
import { NoopBuildRunner } from "../builder/build-runner.js";
import { Builder } from "../builder/builder.js";
import { type HubOptions, type RunningHub, startHub } from "../hub/hub.js";
import { type PostgresCluster, startPostgres } from "./postgres-cluster.js";
import { RawHubClient } from "./raw-hub-client.js";

export const databaseKinds = ["sqlite", "postgres"] as const;
export type DatabaseKind = (typeof databaseKinds)[number];

/**
 * The database matrix: every hub test file calls this once and runs its tests for both kinds. PostgreSQL
 * comes from a throwaway cluster started for the file (see postgres-cluster.ts); each hub gets its own
 * fresh database either way.
 */
export function useDatabases(): { url(kind: DatabaseKind, dir: string): Promise<string> } {
  // started by the first PostgreSQL test of the file, stopped after the last
  let cluster: Promise<PostgresCluster> | undefined;
  afterAll(async () => {
    await (await cluster)?.stop();
  }, 60_000);
  return {
    async url(kind, dir) {
      if (kind === "sqlite") return `sqlite:${join(dir, "hub.db")}`;
      cluster ??= startPostgres();
      return (await cluster).createDatabase();
    },
  };
}

export interface TestHub {
  hub: RunningHub;
  dir: string;
  dbUrl: string;
  admin: RawHubClient;
  anonymous: RawHubClient;
  adminToken: string;
  /** A user with the given permissions and a client holding its token. */
  user(name: string, perms: Permission[]): Promise<RawHubClient>;
  restart(overrides?: Partial<HubOptions>): Promise<RunningHub>;
  close(): Promise<void>;
}

export async function startTestHub(
  databases: ReturnType<typeof useDatabases>,
  kind: DatabaseKind,
  options: Partial<HubOptions> = {},
): Promise<TestHub> {
  const dir = await mkdtemp(join(tmpdir(), `deb-orchestrator-${kind}-`));
  const dbUrl = await databases.url(kind, dir);
  // no deb-mock base for the dep-wait check: the fast tier's builders use none (and it needs no mirror)
  const hubOptions: HubOptions = { db: dbUrl, dataDir: join(dir, "data"), leaseMs: 2000, buildBase: false, ...options };
  let hub = await startHub(hubOptions);
  const adminToken = (await readFile(hub.adminTokenFile, "utf8")).trim();
  const test: TestHub = {
    hub,
    dir,
    dbUrl,
    adminToken,
    admin: new RawHubClient({ url: hub.url, token: adminToken }),
    anonymous: new RawHubClient({ url: hub.url }),
    async user(name, perms) {
      await test.admin.createUser(name, perms);
      const { token } = await test.admin.createToken(name, { label: "test" });
      return new RawHubClient({ url: test.hub.url, token });
    },
    async restart(overrides = {}) {
      const port = Number(new URL(hub.url).port);
      await hub.close();
      hub = await startHub({ ...hubOptions, port, ...overrides });
      test.hub = hub;
      return hub;
    },
    async close() {
      await hub.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return test;
}

/** A started amd64 builder for the test hub, running the no-op runner, with a host user of its own. */
export async function startNoopBuilder(
  test: TestHub,
  name: string,
  options: { capacity?: number; failSources?: string[]; delayMs?: number } = {},
): Promise<Builder> {
  const client = await test.user(name, ["host"]);
  const builder = new Builder({
    client,
    name,
    arches: ["amd64"],
    capacity: options.capacity ?? 1,
    runner: new NoopBuildRunner({ failSources: options.failSources, delayMs: options.delayMs }),
    workDir: join(test.dir, `work-${name}`),
    claimWaitMs: 2000,
  });
  await builder.start();
  return builder;
}

/**
 * The builders a describe block's tests start: after each test they are stopped, then the hub that
 * `hub()` returns (that test's) is closed.
 */
export function useBuilders(hub: () => TestHub | undefined): Builder[] {
  const builders: Builder[] = [];
  afterEach(async () => {
    for (const builder of builders.splice(0)) await builder.stop(100);
    await hub()?.close();
  });
  return builders;
}
