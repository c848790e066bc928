import { type Compilable, CompiledQuery, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseKinds, startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";
import { bulkSeed } from "../web/__fixtures__/bulk-seed.js";

const databases = useDatabases();

/*
 * The list queries of the web UI and the API, shaped as web/read.ts and hub/catalog/ write them, must
 * be able to use an index on both databases: EXPLAIN on a seeded history names the index each one needs.
 * PostgreSQL's planner may prefer a sequential scan of a few thousand rows, so its plans are taken with
 * sequential scans disabled: the question is whether an index serves the query, not which plan wins on
 * a small table. The plans are printed for the record.
 */
describe.each(databaseKinds)("list indexes on %s", (kind) => {
  let test: TestHub;
  beforeAll(async () => {
    test = await startTestHub(databases, kind);
    await bulkSeed(test.hub.ctx, 2000);
    await sql`ANALYZE`.execute(test.hub.ctx.db);
  }, 300_000);
  afterAll(async () => {
    await test?.close();
  });

  async function plan(query: Compilable): Promise<string> {
    const { sql: text, parameters } = query.compile();
    const db = test.hub.ctx.db;
    if (kind === "sqlite") {
      const rows = await db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${text}`, [...parameters]));
      return rows.rows.map((r) => r.detail).join("\n");
    }
    return db.transaction().execute(async (trx) => {
      await sql`SET LOCAL enable_seqscan = off`.execute(trx);
      const rows = await trx.executeQuery<{ "QUERY PLAN": string }>(CompiledQuery.raw(`EXPLAIN ${text}`, [...parameters]));
      return rows.rows.map((r) => r["QUERY PLAN"]).join("\n");
    });
  }

  const day = 24 * 3_600_000;
  const cases = () => {
    const db = test.hub.ctx.db;
    const since = Date.now() - day;
    return {
      // the tasks page filtered by owner, newest first (user 2, a builder of the seed, owns none: a selective owner)
      tasks_by_owner: db.selectFrom("tasks").selectAll().where("owner_id", "=", 2).orderBy("id", "desc").limit(51),
      // a build's tasks (deleting a build, build pages)
      tasks_by_build: db.selectFrom("tasks").select(["id", "state"]).where("build_id", "=", 7),
      // the overview's failures of the last day and their count
      "tasks_by_state_completed|tasks_by_completed (failures)": db
        .selectFrom("tasks")
        .selectAll()
        .where("state", "=", "failed")
        .where("completed_at", ">=", since)
        .orderBy("completed_at", "desc")
        .limit(20),
      "tasks_by_state_completed|tasks_by_completed (failure count)": db
        .selectFrom("tasks")
        .select((eb) => eb.fn.countAll().as("n"))
        .where("state", "=", "failed")
        .where("completed_at", ">=", since),
      // tasks finished in a time range (the timeline's closed work, the benchmark's last completion)
      tasks_by_completed: db
        .selectFrom("tasks")
        .select(["id", "completed_at"])
        .where("completed_at", ">=", since)
        .where("completed_at", "<", since + 3_600_000),
      // the builds page filtered by state and by owner, newest first
      builds_by_state: db
        .selectFrom("builds")
        .select(["id", "name", "version"])
        .where("state", "=", "failed")
        .orderBy("id", "desc")
        .limit(51),
      builds_by_owner: db.selectFrom("builds").select(["id", "name", "version"]).where("owner_id", "=", 2).orderBy("id", "desc").limit(51),
      // the composes page by definition and by status, newest first; the composes a build went into
      composes_by_name: db
        .selectFrom("composes")
        .select(["id", "compose_id"])
        .where("name", "=", "minimal")
        .orderBy("id", "desc")
        .limit(51),
      composes_by_status: db
        .selectFrom("composes")
        .select(["id", "compose_id"])
        .where("status", "=", "DOOMED")
        .orderBy("id", "desc")
        .limit(51),
      compose_packages_by_build: db.selectFrom("compose_packages").select(["compose_id", "name"]).where("build_id", "=", 7),
    };
  };

  it("every list query has an index to use", async () => {
    const plans: string[] = [];
    for (const [index, query] of Object.entries(cases())) {
      // "a|b (what)": either index serves the query; the planner picks by its statistics
      const names = index.split(" ")[0]!.split("|");
      const text = await plan(query);
      plans.push(`${index}:\n  ${text.replaceAll("\n", "\n  ")}`);
      expect(
        names.some((name) => new RegExp(`\\b${name}\\b`).test(text)),
        `${index} on ${kind}:\n${text}`,
      ).toBe(true);
    }
    console.info(`query plans on ${kind}:\n${plans.join("\n")}`);
  });
});
