import { chmod, open } from "node:fs/promises";
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from "kysely";
import { orchestratorError } from "../errors.js";
import { migrationProvider } from "./migrations.js";
import type { Database } from "./schema.js";
import { withStatementCache } from "./sqlite-statements.js";

export type DialectName = "sqlite" | "postgres";

export interface HubDatabase {
  db: Kysely<Database>;
  dialect: DialectName;
  /** Where it lives, with any password removed (for logs). */
  display: string;
  close(): Promise<void>;
}

/**
 * Open the hub database from a URL: `sqlite:PATH` (or `sqlite::memory:`) opens an embedded SQLite
 * database in WAL mode; `postgres://...` / `postgresql://...` a PostgreSQL pool. Migrations run on open.
 */
export async function openDatabase(
  url: string,
  options: { migrate?: boolean; onPoolError?: (error: Error) => void } = {},
): Promise<HubDatabase> {
  let handle: HubDatabase;
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length);
    if (path === "") throw orchestratorError("DATABASE_URL_INVALID", "sqlite: needs a path, e.g. sqlite:/var/lib/deb-orchestrator/hub.db");
    const { default: SqliteDatabase } = await import("better-sqlite3");
    // the database holds webhook secrets: only the hub's user may read it (SQLite gives its -wal and -shm
    // files the database file's mode; older ones are tightened too)
    if (path !== ":memory:") await (await open(path, "a", 0o600)).close();
    const sqlite = new SqliteDatabase(path);
    sqlite.pragma("journal_mode = WAL");
    if (path !== ":memory:") for (const file of [path, `${path}-wal`, `${path}-shm`]) await chmod(file, 0o600).catch(() => {});
    sqlite.pragma("synchronous = NORMAL");
    sqlite.pragma("busy_timeout = 10000");
    sqlite.pragma("foreign_keys = ON");
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    handle = { db, dialect: "sqlite", display: url, close: () => db.destroy() };
  } else if (/^postgres(ql)?:\/\//.test(url)) {
    const pg = (await import("pg")).default;
    const types = {
      getTypeParser: (oid: number, format?: "text" | "binary") =>
        oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as "text"),
    };
    const pool = new pg.Pool({ connectionString: url, max: 10, types });
    // an idle connection dropped by the server (restart, failover) must not take the hub down; the next
    // query opens a new one
    pool.on("error", (error) => options.onPoolError?.(error));
    // a connection lost while checked out (a query running) fails that query; the client's own 'error'
    // event would otherwise be uncaught and end the process
    pool.on("connect", (client) => client.on("error", () => {}));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    handle = { db, dialect: "postgres", display: url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@"), close: () => db.destroy() };
  } else {
    throw orchestratorError("DATABASE_URL_INVALID", `unknown database URL '${url}': expected sqlite:PATH or postgres://...`);
  }
  if (options.migrate !== false) await migrate(handle);
  return handle;
}

export async function migrate(handle: HubDatabase): Promise<void> {
  const migrator = new Migrator({ db: handle.db, provider: migrationProvider(handle.dialect) });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}

/** The database answers a query (the hub's health check). */
export async function checkDatabase(db: Kysely<Database>): Promise<void> {
  await db.selectFrom("users").select("id").limit(1).execute();
}
