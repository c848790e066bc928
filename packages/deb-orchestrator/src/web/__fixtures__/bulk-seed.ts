import { sql } from "kysely";
import type { HubContext } from "../../hub/context.js";

/*
 * A large history written straight into the database (the API would take minutes for this much): N
 * builds of 400 packages over the last weeks, each with its build and buildArch tasks (and tagBuild for
 * the complete ones), a binary, a tag entry and events, plus a live queue of free and running tasks.
 * Shaped like what the hub itself writes, so the web pages read it as they would a real hub's.
 */

export interface BulkSeed {
  builds: number;
  tasks: number;
  packages: number;
  tag: string;
  sampleBuild: number;
  sampleTask: number;
  samplePackage: string;
}

const BATCH = 400;

async function insertAll<T extends Record<string, unknown>>(ctx: HubContext, table: string, rows: T[]): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH)
    // biome-ignore lint/suspicious/noExplicitAny: one generic bulk insert for several tables
    await (ctx.db as any).insertInto(table).values(rows.slice(i, i + BATCH)).execute();
}

export async function bulkSeed(ctx: HubContext, count: number, now = Date.now()): Promise<BulkSeed> {
  const db = ctx.db;
  const owner = 1; // the bootstrap admin
  const hostIds: number[] = [];
  for (let h = 0; h < 4; h++) {
    const user = await db
      .insertInto("users")
      .values({ name: `bulk-builder-${h}`, created_at: now, disabled: 0 })
      .returning("id")
      .executeTakeFirstOrThrow();
    const host = await db
      .insertInto("hosts")
      .values({
        name: `bulk-builder-${h}`,
        user_id: user.id,
        arches: "amd64",
        capacity: 4,
        enabled: 1,
        last_checkin: now - h * 1000,
        load: 1,
        session: `s${h}`,
        created_at: now,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    hostIds.push(host.id);
  }
  const tag = await db.insertInto("tags").values({ name: "bulk-tag", arches: "amd64", created_at: now }).returning("id").executeTakeFirstOrThrow();

  const base = (await db.selectFrom("packages").select((eb) => eb.fn.max("id").as("m")).executeTakeFirst())?.m ?? 0;
  const packageCount = Math.min(400, count);
  const packages = Array.from({ length: packageCount }, (_, i) => ({
    id: Number(base) + i + 1,
    name: `pkg-${String(i).padStart(3, "0")}`,
    created_at: now - 40 * 86_400_000,
  }));
  await insertAll(ctx, "packages", packages);

  const firstBuild = Number((await db.selectFrom("builds").select((eb) => eb.fn.max("id").as("m")).executeTakeFirst())?.m ?? 0) + 1;
  let taskId = Number((await db.selectFrom("tasks").select((eb) => eb.fn.max("id").as("m")).executeTakeFirst())?.m ?? 0) + 1;
  const builds = [];
  const tasks = [];
  const binaries = [];
  const tagged = [];
  const events = [];
  const span = 27 * 86_400_000;
  for (let i = 0; i < count; i++) {
    const pkg = packages[i % packageCount]!;
    const version = `1.${Math.floor(i / packageCount)}-1`;
    const roll = (i * 7919) % 100;
    const state = i >= count - 3 ? "building" : roll < 86 ? "complete" : roll < 96 ? "failed" : "canceled";
    const created = now - span + Math.floor((i * span) / count);
    const took = 60_000 + ((i * 104_729) % 1_200_000);
    const done = state === "building" ? null : created + took;
    const buildId = firstBuild + i;
    const top = taskId++;
    const arch = taskId++;
    const topState = state === "complete" ? "closed" : state === "building" ? "open" : state;
    const archState = state === "complete" ? "closed" : state === "building" ? "open" : state;
    const host = hostIds[i % hostIds.length]!;
    const request = JSON.stringify({ target: "bulk", dsc: `${pkg.name}_${version}.dsc`, files: [] });
    const archRequest = JSON.stringify({ source: pkg.name, version, arch: "amd64" });
    builds.push({
      id: buildId,
      package_id: pkg.id,
      name: pkg.name,
      version,
      state,
      task_id: top,
      owner_id: owner,
      source: JSON.stringify({ dsc: `${pkg.name}_${version}.dsc`, files: [] }),
      created_at: created,
      completed_at: done,
    });
    const task = (id: number, parent: number | null, label: string | null, method: string, st: string, req: string, hostId: number | null) => ({
      id,
      parent_id: parent,
      label,
      method,
      arch: method === "buildArch" ? "amd64" : null,
      state: st,
      priority: 20,
      weight: 1,
      host_id: hostId,
      session: null,
      lease_expires: st === "open" ? now + 60_000 : null,
      owner_id: owner,
      request: req,
      result: null,
      error_code: st === "failed" ? "BUILD_STEP_FAILED" : null,
      error_message: st === "failed" ? "dpkg-buildpackage: error: debian/rules build subprocess returned exit status 2" : null,
      attempts: 0,
      build_id: buildId,
      tag_id: null,
      created_at: created,
      started_at: created + 2000,
      completed_at: done,
    });
    tasks.push(task(top, null, null, "build", topState, request, null));
    tasks.push(task(arch, top, "buildArch-amd64", "buildArch", archState, archRequest, host));
    if (state === "complete") {
      tasks.push(task(taskId++, top, "tagBuild", "tagBuild", "closed", "{}", null));
      binaries.push({
        build_id: buildId,
        name: pkg.name,
        version,
        arch: "amd64",
        filename: `${pkg.name}_${version}_amd64.deb`,
        sha256: (i.toString(16).padStart(8, "0") + "ab").repeat(7).slice(0, 64),
        size: 10_000 + i,
      });
      tagged.push({ tag_id: tag.id, build_id: buildId, package_id: pkg.id, tagged_at: done!, tagged_by: owner });
    }
    events.push(
      { time: created, user_id: owner, kind: "task.created", object_type: "task", object_id: top, data: '{"method":"build"}' },
      { time: created, user_id: owner, kind: "build.state", object_type: "build", object_id: buildId, data: `{"state":"${state}"}` },
    );
  }
  // the live queue: free tasks waiting, spread over the last hours
  for (let q = 0; q < 30; q++)
    tasks.push({
      ...tasks[1]!,
      id: taskId++,
      parent_id: null,
      label: null,
      method: "noop",
      state: "free",
      host_id: null,
      build_id: null,
      lease_expires: null,
      created_at: now - q * 120_000,
      started_at: null,
      completed_at: null,
      request: "{}",
    });
  await insertAll(ctx, "builds", builds);
  await insertAll(ctx, "tasks", tasks);
  await insertAll(ctx, "binaries", binaries);
  await insertAll(ctx, "tagged_builds", tagged);
  await insertAll(ctx, "events", events);
  if (ctx.dialect === "postgres")
    for (const table of ["packages", "builds", "tasks"])
      await sql`select setval(pg_get_serial_sequence(${table}, 'id'), (select max(id) from ${sql.table(table)}))`.execute(db);
  return {
    builds: count,
    tasks: tasks.length,
    packages: packageCount,
    tag: "bulk-tag",
    sampleBuild: firstBuild + Math.floor(count / 2),
    sampleTask: builds[Math.floor(count / 2)]!.task_id + 1,
    samplePackage: packages[7]!.name,
  };
}
