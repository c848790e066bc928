import { chown, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { freePort } from "./processes.js";

/**
 * A throwaway PostgreSQL cluster for tests: initdb in a temp dir and postgres on a free loopback port, with
 * durability switched off. Runs as the `postgres` user when we are root (initdb refuses root), as
 * ourselves otherwise. Needs Debian's `postgresql` package. Set DEB_ORCHESTRATOR_TEST_PG to the URL of
 * an existing server (with CREATE DATABASE rights) to use that instead.
 */
export interface PostgresCluster {
  /** URL of the maintenance database; tests create their own databases in it. */
  url: string;
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

async function binDir(): Promise<string | undefined> {
  try {
    const versions = (await readdir("/usr/lib/postgresql")).filter((v) => /^[0-9]+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    return versions[0] ? `/usr/lib/postgresql/${versions[0]}/bin` : undefined;
  } catch {
    return undefined;
  }
}

export async function postgresAvailable(): Promise<boolean> {
  return process.env.DEB_ORCHESTRATOR_TEST_PG !== undefined || (await binDir()) !== undefined;
}

let counter = 0;

function withDatabases(url: string, stop: () => Promise<void>): PostgresCluster {
  return {
    url,
    async createDatabase() {
      const pg = (await import("pg")).default;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const name = `t_${process.pid}_${Date.now().toString(36)}_${counter++}`;
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url.replace(/\/[^/?]*(\?.*)?$/, `/${name}$1`).replace("undefined", "");
    },
    stop,
  };
}

export async function startPostgres(): Promise<PostgresCluster> {
  const existing = process.env.DEB_ORCHESTRATOR_TEST_PG;
  if (existing) return withDatabases(existing, async () => {});
  const bin = await binDir();
  if (!bin) throw new Error("PostgreSQL is not installed (Debian package: postgresql)");
  const dir = await mkdtemp(join(tmpdir(), "deb-orchestrator-pg-"));
  const asRoot = process.getuid?.() === 0;
  const pgUid = asRoot ? Number((await run("id", ["-u", "postgres"])).stdout.trim()) : undefined;
  const pgGid = asRoot ? Number((await run("id", ["-g", "postgres"])).stdout.trim()) : undefined;
  if (asRoot) await chown(dir, pgUid!, pgGid!);
  const as = (program: string, args: string[]) =>
    asRoot
      ? run("setpriv", [`--reuid=${pgUid}`, `--regid=${pgGid}`, "--clear-groups", program, ...args], { cwd: dir })
      : run(program, args, { cwd: dir });
  const data = join(dir, "data");
  await as(join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--locale=C"]);
  const port = await freePort();
  const settings = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  await as(join(bin, "pg_ctl"), ["-D", data, "-o", settings, "-l", join(dir, "log"), "-w", "-t", "60", "start"]);
  return withDatabases(`postgres://postgres@127.0.0.1:${port}/postgres`, async () => {
    await as(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
}
