import type { Kysely, Selectable, Transaction } from "kysely";
import type { BuildsTable, Database } from "../../db/schema.js";
import { orchestratorError } from "../../errors.js";
import type { Principal } from "../auth.js";
import type { HubContext } from "../context.js";
import { recordEvent } from "../events.js";
import { checkArch, checkName } from "../validate.js";
import { findBuild } from "./builds.js";

/* Tags: their arches, their inheritance (parents in priority order), their external repositories, and
 * the builds tagged into them. Every change is one transaction that also appends to the event log. */

export async function tagId(db: Kysely<Database>, name: string): Promise<number> {
  checkName(name, "tag");
  const row = await db.selectFrom("tags").select("id").where("name", "=", name).executeTakeFirst();
  if (!row) throw orchestratorError("NOT_FOUND", `tag '${name}' does not exist`, { hint: "see deb-orchestrator list-tags" });
  return row.id;
}

/** The tag itself, then its parents in priority order, depth first, each tag once. */
export async function tagChain(db: Kysely<Database>, id: number): Promise<number[]> {
  const edges = await db.selectFrom("tag_inheritance").selectAll().orderBy("priority").orderBy("parent_id").execute();
  const chain: number[] = [];
  const visit = (tag: number) => {
    if (chain.includes(tag)) return;
    chain.push(tag);
    for (const edge of edges.filter((e) => e.tag_id === tag)) visit(edge.parent_id);
  };
  visit(id);
  return chain;
}

export interface TagSpec {
  arches?: string[];
  parents?: string[];
  externalRepos?: string[];
  autoRebuild?: number;
}

async function setInheritance(trx: Kysely<Database>, id: number, parents: string[]): Promise<void> {
  const parentIds: number[] = [];
  for (const parent of parents) parentIds.push(await tagId(trx, parent));
  await trx.deleteFrom("tag_inheritance").where("tag_id", "=", id).execute();
  for (const [priority, parentId] of parentIds.entries()) {
    if (parentIds.indexOf(parentId) !== priority) throw orchestratorError("REQUEST_INVALID", "a parent tag is listed twice");
    await trx
      .insertInto("tag_inheritance")
      .values({ tag_id: id, parent_id: parentId, priority: priority * 10 })
      .execute();
  }
  for (const parentId of parentIds)
    if ((await tagChain(trx, parentId)).includes(id))
      throw orchestratorError("TAG_LOOP", "the inheritance would make the tag its own ancestor");
}

async function setExternalRepos(trx: Kysely<Database>, id: number, names: string[]): Promise<void> {
  await trx.deleteFrom("tag_external_repos").where("tag_id", "=", id).execute();
  for (const [priority, name] of names.entries()) {
    checkName(name, "external repo");
    const repo = await trx.selectFrom("external_repos").select("id").where("name", "=", name).executeTakeFirst();
    if (!repo) throw orchestratorError("NOT_FOUND", `external repo '${name}' does not exist`);
    await trx
      .insertInto("tag_external_repos")
      .values({ tag_id: id, repo_id: repo.id, priority: priority * 10 })
      .onConflict((oc) => oc.columns(["tag_id", "repo_id"]).doNothing())
      .execute();
  }
}

export async function createTag(ctx: HubContext, actor: Principal, name: string, spec: TagSpec): Promise<number> {
  checkName(name, "tag");
  const arches = (spec.arches ?? ["amd64"]).map((a) => checkArch(a));
  if (await ctx.db.selectFrom("tags").select("id").where("name", "=", name).executeTakeFirst())
    throw orchestratorError("ALREADY_EXISTS", `tag '${name}' exists already`);
  const id = await ctx.db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto("tags")
      .values({
        name,
        arches: arches.join(" "),
        created_at: ctx.now(),
        ...(spec.autoRebuild ? { auto_rebuild: spec.autoRebuild, auto_rebuild_since: ctx.now() } : {}),
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    await setInheritance(trx, row.id, spec.parents ?? []);
    await setExternalRepos(trx, row.id, spec.externalRepos ?? []);
    await recordEvent(
      trx,
      { userId: actor.userId, kind: "tag.created", objectType: "tag", objectId: row.id, data: { name, ...spec, arches } },
      ctx.now(),
    );
    return row.id;
  });
  ctx.bus.ping();
  return id;
}

export async function editTag(ctx: HubContext, actor: Principal, name: string, spec: TagSpec): Promise<void> {
  const id = await tagId(ctx.db, name);
  await ctx.db.transaction().execute(async (trx) => {
    if (spec.arches)
      await trx
        .updateTable("tags")
        .set({ arches: spec.arches.map((a) => checkArch(a)).join(" ") })
        .where("id", "=", id)
        .execute();
    if (spec.parents) await setInheritance(trx, id, spec.parents);
    if (spec.externalRepos) await setExternalRepos(trx, id, spec.externalRepos);
    if (spec.autoRebuild !== undefined) {
      // switched on: builds tagged from now on trigger rebuilds, not those already there
      const was = await trx.selectFrom("tags").select("auto_rebuild").where("id", "=", id).executeTakeFirstOrThrow();
      await trx
        .updateTable("tags")
        .set({
          auto_rebuild: spec.autoRebuild,
          ...(was.auto_rebuild === 0 && spec.autoRebuild > 0 ? { auto_rebuild_since: ctx.now() } : {}),
        })
        .where("id", "=", id)
        .execute();
    }
    await recordEvent(
      trx,
      { userId: actor.userId, kind: "tag.edited", objectType: "tag", objectId: id, data: { name, ...spec } },
      ctx.now(),
    );
  });
  ctx.bus.ping();
}

export async function tagExternalRepos(db: Kysely<Database>, id: number) {
  const chain = await tagChain(db, id);
  const result: { name: string; url: string; suite: string; components: string }[] = [];
  for (const tag of chain) {
    const rows = await db
      .selectFrom("tag_external_repos")
      .innerJoin("external_repos", "external_repos.id", "tag_external_repos.repo_id")
      .select(["external_repos.name", "external_repos.url", "external_repos.suite", "external_repos.components"])
      .where("tag_external_repos.tag_id", "=", tag)
      .orderBy("tag_external_repos.priority")
      .execute();
    for (const row of rows) if (!result.some((r) => r.name === row.name)) result.push(row);
  }
  return result;
}

export async function describeTag(db: Kysely<Database>, name: string) {
  const id = await tagId(db, name);
  const tag = await db.selectFrom("tags").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
  const parents = await db
    .selectFrom("tag_inheritance")
    .innerJoin("tags", "tags.id", "tag_inheritance.parent_id")
    .select(["tags.name", "tag_inheritance.priority"])
    .where("tag_inheritance.tag_id", "=", id)
    .orderBy("tag_inheritance.priority")
    .execute();
  const chain = await tagChain(db, id);
  const names = chain.length ? await db.selectFrom("tags").select(["id", "name"]).where("id", "in", chain).execute() : [];
  const repo = await db
    .selectFrom("repos")
    .select(["number", "created_at"])
    .where("tag_id", "=", id)
    .where("state", "=", "ready")
    .orderBy("number", "desc")
    .executeTakeFirst();
  return {
    id,
    name: tag.name,
    arches: tag.arches.split(" ").filter(Boolean),
    parents: parents.map((p) => p.name),
    inheritance: chain.map((c) => names.find((n) => n.id === c)?.name ?? String(c)),
    externalRepos: (await tagExternalRepos(db, id)).map((r) => r.name),
    repo: repo ? { number: repo.number, createdAt: repo.created_at } : null,
    autoRebuild: tag.auto_rebuild,
  };
}

/** A tag as GET /api/v1/tags/:name answers. */
export type TagView = Awaited<ReturnType<typeof describeTag>>;

export async function listTags(db: Kysely<Database>) {
  const tags = await db.selectFrom("tags").select("name").orderBy("name").execute();
  return Promise.all(tags.map((t) => describeTag(db, t.name)));
}

/** The latest build of each package in a tag, following inheritance (the tag's own builds win). */
export async function latestTagged(db: Kysely<Database>, id: number, packageName?: string) {
  const chain = await tagChain(db, id);
  const seen = new Set<number>();
  const result: { buildId: number; name: string; version: string; tag: string; taggedAt: number }[] = [];
  for (const tag of chain) {
    let query = db
      .selectFrom("tagged_builds")
      .innerJoin("builds", "builds.id", "tagged_builds.build_id")
      .innerJoin("tags", "tags.id", "tagged_builds.tag_id")
      .select([
        "builds.id as buildId",
        "builds.name",
        "builds.version",
        "builds.package_id as packageId",
        "tags.name as tag",
        "tagged_builds.tagged_at as taggedAt",
      ])
      .where("tagged_builds.tag_id", "=", tag)
      .where("builds.state", "=", "complete")
      .orderBy("tagged_builds.tagged_at", "desc")
      .orderBy("builds.id", "desc");
    if (packageName) query = query.where("builds.name", "=", packageName);
    for (const row of await query.execute()) {
      if (seen.has(row.packageId)) continue;
      seen.add(row.packageId);
      result.push({ buildId: row.buildId, name: row.name, version: row.version, tag: row.tag, taggedAt: row.taggedAt });
    }
  }
  return result.sort((a, b) => a.name.localeCompare(b.name));
}

export async function listTagged(db: Kysely<Database>, tag: string, options: { inherit?: boolean; latest?: boolean }) {
  const id = await tagId(db, tag);
  if (options.latest || options.inherit) return latestTagged(db, id);
  return db
    .selectFrom("tagged_builds")
    .innerJoin("builds", "builds.id", "tagged_builds.build_id")
    .select(["builds.id as buildId", "builds.name", "builds.version", "tagged_builds.tagged_at as taggedAt"])
    .where("tagged_builds.tag_id", "=", id)
    .orderBy("builds.name")
    .orderBy("tagged_builds.tagged_at", "desc")
    .execute();
}

/**
 * Tag a build: the one way a build enters a tag, for a user's request and for a build's tagBuild step.
 * Only complete builds are tagged; tagging twice changes nothing (and records nothing).
 */
export async function addTagged(
  trx: Transaction<Database>,
  ctx: HubContext,
  tag: { id: number; name: string },
  build: Pick<Selectable<BuildsTable>, "id" | "package_id" | "state" | "name" | "version">,
  userId: number,
): Promise<void> {
  if (build.state !== "complete")
    throw orchestratorError("TASK_STATE", `build ${build.name}/${build.version} is ${build.state}; only complete builds are tagged`);
  const now = ctx.now();
  const inserted = await trx
    .insertInto("tagged_builds")
    .values({ tag_id: tag.id, build_id: build.id, package_id: build.package_id, tagged_at: now, tagged_by: userId })
    .onConflict((oc) => oc.columns(["tag_id", "build_id"]).doNothing())
    .returning("build_id")
    .executeTakeFirst();
  if (inserted)
    await recordEvent(
      trx,
      { userId, kind: "tag.build-added", objectType: "tag", objectId: tag.id, data: { tag: tag.name, build: build.id }, buildId: build.id },
      now,
    );
}

/** Tag or untag a build by hand; the caller then queues a newRepo of the tag. */
export async function setTagged(ctx: HubContext, actor: Principal, tag: string, buildRef: string, tagged: boolean): Promise<void> {
  const id = await tagId(ctx.db, tag);
  const build = await findBuild(ctx.db, buildRef);
  await ctx.db.transaction().execute(async (trx) => {
    if (tagged) return addTagged(trx, ctx, { id, name: tag }, build, actor.userId);
    const res = await trx.deleteFrom("tagged_builds").where("tag_id", "=", id).where("build_id", "=", build.id).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0)
      throw orchestratorError("NOT_FOUND", `build ${build.name}/${build.version} is not in tag '${tag}'`);
    await recordEvent(
      trx,
      {
        userId: actor.userId,
        kind: "tag.build-removed",
        objectType: "tag",
        objectId: id,
        data: { tag, build: build.id },
        buildId: build.id,
      },
      ctx.now(),
    );
  });
  ctx.bus.ping();
}
