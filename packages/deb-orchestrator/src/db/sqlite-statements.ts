import type { Database, Statement } from "better-sqlite3";
import type { SqliteDatabase } from "kysely";

/**
 * The database as Kysely's SQLite dialect sees it, with compiled statements kept for reuse: Kysely
 * prepares every query it runs, and compiling the SQL was the largest single cost of a no-op task on
 * SQLite (bench/orchestrator-dispatch.mjs). The least recently used statement goes when `size` are
 * kept; a statement still iterating (a streamed query) is not handed out twice.
 */
export function withStatementCache(sqlite: Database, size = 256): SqliteDatabase {
  const cache = new Map<string, Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql) {
      const cached = cache.get(sql);
      cache.delete(sql);
      const statement = cached && !cached.busy ? cached : sqlite.prepare(sql);
      cache.set(sql, statement);
      if (cache.size > size) cache.delete(cache.keys().next().value as string);
      return statement;
    },
  };
}
