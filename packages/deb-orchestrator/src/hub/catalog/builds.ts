import type { Kysely, Transaction } from "kysely";
import type { SourceFileRef } from "../../api/tasks.js";
import type { Database } from "../../db/schema.js";
import { orchestratorError } from "../../errors.js";
import type { HubContext } from "../context.js";
import { recordEvent } from "../events.js";
import { checkPackageName, checkVersion } from "../validate.js";

/* Builds: a source package's name and version, built once (or again after it failed), its binaries and
 * the buildroots it was made in. */

/** Find a build by id or `name/version`. */
export async function findBuild(db: Kysely<Database>, ref: string) {
  let query = db.selectFrom("builds").selectAll();
  if (/^[0-9]{1,12}$/.test(ref)) query = query.where("id", "=", Number(ref));
  else {
    const [name, version, extra] = ref.split("/");
    if (!name || !version || extra !== undefined)
      throw orchestratorError("REQUEST_INVALID", `build '${ref.slice(0, 80)}' must be an id or NAME/VERSION`);
    query = query.where("name", "=", checkPackageName(name)).where("version", "=", checkVersion(version));
  }
  const build = await query.executeTakeFirst();
  if (!build) throw orchestratorError("NOT_FOUND", `build '${ref.slice(0, 80)}' does not exist`);
  return build;
}

/** What a build was made from: the .dsc's name and every file of the source package, as submitted. */
export interface BuildSource {
  dsc: string;
  files: SourceFileRef[];
}

export async function describeBuild(db: Kysely<Database>, ref: string) {
  const build = await findBuild(db, ref);
  const binaries = await db
    .selectFrom("binaries")
    .select(["name", "version", "arch", "filename", "sha256", "size"])
    .where("build_id", "=", build.id)
    .orderBy("filename")
    .execute();
  const tags = await db
    .selectFrom("tagged_builds")
    .innerJoin("tags", "tags.id", "tagged_builds.tag_id")
    .select("tags.name")
    .where("build_id", "=", build.id)
    .orderBy("tags.name")
    .execute();
  const buildroots = await db.selectFrom("buildroots").select(["id", "arch", "task_id"]).where("build_id", "=", build.id).execute();
  const buildrootViews = [];
  for (const root of buildroots) {
    const installed = await db
      .selectFrom("buildroot_packages")
      .select(["name", "version", "arch"])
      .where("buildroot_id", "=", root.id)
      .orderBy("name")
      .execute();
    buildrootViews.push({ id: root.id, arch: root.arch, task: root.task_id, installed });
  }
  return {
    id: build.id,
    name: build.name,
    version: build.version,
    state: build.state,
    task: build.task_id,
    source: JSON.parse(build.source) as BuildSource,
    createdAt: build.created_at,
    completedAt: build.completed_at,
    binaries: binaries.map((b) => ({ ...b, size: Number(b.size) })),
    tags: tags.map((t) => t.name),
    buildroots: buildrootViews,
  };
}

/** A build as GET /api/v1/builds/:ref answers. */
export type BuildView = Awaited<ReturnType<typeof describeBuild>>;

export async function listBuilds(db: Kysely<Database>, filter: { name?: string; state?: string; limit?: number }) {
  let query = db
    .selectFrom("builds")
    .select(["id", "name", "version", "state", "task_id as task", "created_at as createdAt", "completed_at as completedAt"]);
  if (filter.name) query = query.where("name", "=", checkPackageName(filter.name));
  if (filter.state) query = query.where("state", "=", filter.state);
  return query
    .orderBy("id", "desc")
    .limit(filter.limit ?? 100)
    .execute();
}

/** A build leaves `building` (complete, failed, canceled), once. */
export async function setBuildState(
  trx: Transaction<Database>,
  ctx: HubContext,
  buildId: number,
  state: string,
  userId: number | null,
): Promise<void> {
  const now = ctx.now();
  const res = await trx
    .updateTable("builds")
    .set({ state, completed_at: state === "building" ? null : now })
    .where("id", "=", buildId)
    .where("state", "=", "building")
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) === 1)
    await recordEvent(trx, { userId, kind: "build.state", objectType: "build", objectId: buildId, data: { state } }, now);
}

/**
 * The build record a build task makes (its package created on first use): a new build of a name and
 * version, or a failed or canceled one built again. A name and version building or complete already is
 * the error returned (BUILD_EXISTS), for the task to fail with.
 */
export async function openBuild(
  trx: Transaction<Database>,
  ctx: HubContext,
  task: { id: number; owner_id: number },
  made: { source: string; version: string; from: BuildSource },
): Promise<{ buildId: number } | { error: { code: string; message: string } }> {
  const now = ctx.now();
  let pkg = await trx.selectFrom("packages").select("id").where("name", "=", made.source).executeTakeFirst();
  if (!pkg) {
    pkg = await trx.insertInto("packages").values({ name: made.source, created_at: now }).returning("id").executeTakeFirstOrThrow();
    await recordEvent(
      trx,
      { userId: task.owner_id, kind: "package.created", objectType: "package", objectId: pkg.id, data: { name: made.source } },
      now,
    );
  }
  const existing = await trx
    .selectFrom("builds")
    .selectAll()
    .where("name", "=", made.source)
    .where("version", "=", made.version)
    .executeTakeFirst();
  if (existing && existing.task_id !== task.id && (existing.state === "building" || existing.state === "complete"))
    return {
      error: {
        code: "BUILD_EXISTS",
        message: `build ${made.source} ${made.version} exists already (${existing.state}, build ${existing.id})`,
      },
    };
  const source = JSON.stringify(made.from);
  let buildId: number;
  if (existing) {
    await trx
      .updateTable("builds")
      .set({ state: "building", task_id: task.id, owner_id: task.owner_id, source, created_at: now, completed_at: null })
      .where("id", "=", existing.id)
      .execute();
    await trx.deleteFrom("binaries").where("build_id", "=", existing.id).execute();
    buildId = existing.id;
  } else {
    const row = await trx
      .insertInto("builds")
      .values({
        package_id: pkg.id,
        name: made.source,
        version: made.version,
        state: "building",
        task_id: task.id,
        owner_id: task.owner_id,
        source,
        created_at: now,
        completed_at: null,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    buildId = row.id;
  }
  await recordEvent(
    trx,
    {
      userId: task.owner_id,
      kind: "build.state",
      objectType: "build",
      objectId: buildId,
      data: { state: "building", name: made.source, version: made.version, task: task.id },
    },
    now,
  );
  return { buildId };
}
