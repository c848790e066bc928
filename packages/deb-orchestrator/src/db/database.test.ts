import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { type PostgresCluster, postgresAvailable, startPostgres } from "../testing/postgres-cluster.js";
import { openDatabase } from "./database.js";

describe.runIf(await postgresAvailable())("the PostgreSQL pool", () => {
  let cluster: PostgresCluster | undefined;
  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it("fails the running query when its connection is killed, without an uncaught error, and goes on", async () => {
    cluster = await startPostgres();
    const lost: Error[] = [];
    const database = await openDatabase(await cluster.createDatabase(), { migrate: false, onPoolError: (e) => lost.push(e) });
    try {
      const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(database.db);
      const pid = rows[0]!.pid;
      // the first connection sleeps; a second one (the pool opens it) ends the first's backend
      const sleeping = sql`SELECT pg_sleep(30)`.execute(database.db).then(
        () => undefined,
        (error: Error) => error,
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      await sql`SELECT pg_terminate_backend(${pid})`.execute(database.db);
      expect((await sleeping)?.message).toMatch(/terminat/i);
      // an uncaught 'error' event would have failed this file by now. The pool still answers: a query
      // sent before the killed connection's socket closed may fail too, the next one gets a new connection
      let answer: number | undefined;
      for (let attempt = 0; attempt < 5 && answer === undefined; attempt++) {
        answer = await sql<{ one: number }>`SELECT 1 AS one`
          .execute(database.db)
          .then((r) => r.rows[0]!.one)
          .catch(() => new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 200)));
      }
      expect(answer).toBe(1);
    } finally {
      await database.close();
    }
  }, 60_000);
});
