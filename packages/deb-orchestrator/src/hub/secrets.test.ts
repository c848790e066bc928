import { chmod, mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { openDatabase } from "../db/database.js";
import { databaseKinds, startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";
import { startHub } from "./hub.js";

/* Secrets stay with the hub: webhook URLs in the (possibly anonymous) event log keep no token, and the
 * files that hold secrets are readable by the hub's user alone. */

const databases = useDatabases();
const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe.each(databaseKinds)("secrets on %s", (kind) => {
  let test: TestHub;
  afterEach(async () => test?.close());

  it("shows webhook URLs in events as scheme, host and path only", async () => {
    test = await startTestHub(databases, kind);
    const secretUrl = "http://user:pw@127.0.0.1:9/hook?token=query-secret-1234#frag";
    await test.admin.post("/api/v1/webhooks", { url: secretUrl, secret: "a-shared-secret-value", allowLocal: true });
    const events = await test.anonymous.get<{ kind: string; data: { url?: string } }[]>("/api/v1/events?limit=10000");
    const created = events.find((e) => e.kind === "webhook.created");
    expect(created?.data.url).toBe("http://127.0.0.1:9/hook");
    const stream = await fetch(`${test.hub.url}/api/v1/events/stream?after=0`, { signal: AbortSignal.timeout(3000) });
    const reader = stream.body!.getReader();
    let text = "";
    while (!text.includes("webhook.created")) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    for (const leak of ["query-secret-1234", "pw@", "a-shared-secret-value"]) {
      expect(JSON.stringify(events)).not.toContain(leak);
      expect(text).not.toContain(leak);
    }
  });
});

describe("files that hold secrets", () => {
  const tempDir = useTempDir("deb-orchestrator-secrets-");

  it("keeps the data directory 0700 and the SQLite database with its -wal and -shm 0600, also for older ones", async () => {
    const dir = tempDir();
    const dataDir = join(dir, "data");
    const dbPath = join(dataDir, "hub.db");
    // an older hub's files, created under a permissive umask
    await mkdir(dataDir, { mode: 0o755 });
    await chmod(dataDir, 0o755);
    await writeFile(dbPath, "", { mode: 0o644 });
    await chmod(dbPath, 0o644);
    const hub = await startHub({ db: `sqlite:${dbPath}`, dataDir });
    try {
      await hub.ctx.db
        .insertInto("webhooks")
        .values({ url: "http://x/", secret: "s", kinds: "", cursor: 0, enabled: 0, failures: 0, created_at: 0 })
        .execute();
      expect(await mode(dataDir)).toBe(0o700);
      for (const file of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`, hub.adminTokenFile])
        expect(`${file} ${(await mode(file)).toString(8)}`).toBe(`${file} 600`);
    } finally {
      await hub.close();
    }
    // a fresh database file is created 0600 from the start
    const fresh = join(dir, "fresh.db");
    const database = await openDatabase(`sqlite:${fresh}`);
    await database.close();
    expect(await mode(fresh)).toBe(0o600);
  });

  it("redacts the webhook URLs that events written before kept in full", async () => {
    const dir = tempDir();
    const url = `sqlite:${join(dir, "hub.db")}`;
    const { Migrator } = await import("kysely");
    const { migrationProvider } = await import("../db/migrations.js");
    const old = await openDatabase(url, { migrate: false });
    const provider = migrationProvider("sqlite");
    const all = await provider.getMigrations();
    const before = Object.fromEntries(Object.entries(all).filter(([name]) => name < "0005"));
    const result = await new Migrator({ db: old.db, provider: { getMigrations: async () => before } }).migrateToLatest();
    expect(result.error).toBeUndefined();
    await old.db
      .insertInto("events")
      .values({
        time: 1,
        user_id: null,
        kind: "webhook.created",
        object_type: "webhook",
        object_id: 1,
        data: '{"url":"https://h.example/p?token=old-secret","kinds":[]}',
      })
      .execute();
    await old.close();
    const migrated = await openDatabase(url);
    const [row] = await migrated.db.selectFrom("events").select("data").execute();
    await migrated.close();
    expect(JSON.parse(row!.data)).toEqual({ url: "https://h.example/p", kinds: [] });
  });
});
