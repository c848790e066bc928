import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Migrator } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { databaseKinds, useDatabases } from "../testing/test-hub.js";
import { type HubDatabase, migrate, openDatabase } from "./database.js";
import { migrationProvider } from "./migrations.js";
import type { ComposesTable, EventsTable, UsersTable } from "./schema.js";

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

  it("0014 gives the composes recorded before it no published channel, and takes one after", async () => {
    dir = await mkdtemp(join(tmpdir(), "deb-orchestrator-migrations-"));
    handle = await openDatabase(await databases.url(kind, dir), { migrate: false });
    const migrator = new Migrator({ db: handle.db, provider: migrationProvider(handle.dialect) });
    expect((await migrator.migrateTo("0013_compose_leases")).error).toBeUndefined();
    // the composes table as 0013 left it, before 0014 added published
    const db = handle.db as unknown as import("kysely").Kysely<{ users: UsersTable; composes: Omit<ComposesTable, "published"> }>;
    const user = await db.insertInto("users").values({ name: "u", created_at: 1, disabled: 0 }).returning("id").executeTakeFirstOrThrow();
    const compose = {
      name: "demo",
      definition_hash: "h",
      definition: "name: demo\n",
      status: "FINISHED",
      owner_id: user.id,
      started_at: 1,
      completed_at: 2,
      sbom: null,
      diff: null,
      lease_expires: null,
    };
    await db
      .insertInto("composes")
      .values({ ...compose, compose_id: "demo-1" })
      .execute();
    await migrate(handle);
    await handle.db
      .insertInto("composes")
      .values({ ...compose, compose_id: "demo-2", published: '{"url":null,"commits":[]}' })
      .execute();
    const rows = await handle.db.selectFrom("composes").select(["compose_id", "published"]).orderBy("id").execute();
    expect(rows).toEqual([
      { compose_id: "demo-1", published: null },
      { compose_id: "demo-2", published: '{"url":null,"commits":[]}' },
    ]);
  });
});
