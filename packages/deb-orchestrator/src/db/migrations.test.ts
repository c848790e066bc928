import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Migrator } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { databaseKinds, useDatabases } from "../testing/test-hub.js";
import { type HubDatabase, migrate, openDatabase } from "./database.js";
import { migrationProvider } from "./migrations.js";
import type { EventsTable } from "./schema.js";

const databases = useDatabases();

describe.each(databaseKinds)("migrations on %s", (kind) => {
  let handle: HubDatabase | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await handle?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("0004 gives the tag events written before it their build", async () => {
    dir = await mkdtemp(join(tmpdir(), "deb-orchestrator-migrations-"));
    handle = await openDatabase(await databases.url(kind, dir), { migrate: false });
    const migrator = new Migrator({ db: handle.db, provider: migrationProvider(handle.dialect) });
    expect((await migrator.migrateTo("0003_list_indexes")).error).toBeUndefined();
    // the events table as 0003 left it, before 0004 added build_id
    const db = handle.db as unknown as import("kysely").Kysely<{ events: Omit<EventsTable, "build_id"> }>;
    const event = (kind: string, data: object) => ({
      time: 1,
      user_id: null,
      kind,
      object_type: "tag",
      object_id: 1,
      data: JSON.stringify(data),
    });
    await db
      .insertInto("events")
      .values([
        event("tag.build-added", { tag: "t", build: 7 }),
        event("tag.build-removed", { tag: "t", build: 7 }),
        event("tag.created", { name: "t" }),
        event("tag.build-added", { tag: "t", build: 8 }),
      ])
      .execute();
    await migrate(handle);
    const rows = await handle.db.selectFrom("events").select(["kind", "build_id"]).orderBy("id").execute();
    expect(rows).toEqual([
      { kind: "tag.build-added", build_id: 7 },
      { kind: "tag.build-removed", build_id: 7 },
      { kind: "tag.created", build_id: null },
      { kind: "tag.build-added", build_id: 8 },
    ]);
  });
});
