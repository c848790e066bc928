import SqliteDatabase from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { withStatementCache } from "./sqlite-statements.js";

describe("the SQLite statement cache", () => {
  it("compiles a query once, not for a statement still iterating, and forgets the least recently used", () => {
    const sqlite = new SqliteDatabase(":memory:");
    const db = withStatementCache(sqlite, 2);
    db.prepare("create table t (n integer)").run([]);
    const insert = db.prepare("insert into t values (?)");
    for (const n of [1, 2, 3]) {
      expect(db.prepare("insert into t values (?)")).toBe(insert);
      insert.run([n]);
    }

    const select = db.prepare("select n from t order by n");
    const rows = select.iterate([]);
    rows.next();
    const meanwhile = db.prepare("select n from t order by n");
    expect(meanwhile).not.toBe(select); // reusing it mid-iteration would throw
    expect(meanwhile.all([])).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    rows.return?.();

    db.prepare("select 1");
    db.prepare("select 2"); // two kept: the insert is gone
    expect(db.prepare("insert into t values (?)")).not.toBe(insert);
    db.close();
  });
});
