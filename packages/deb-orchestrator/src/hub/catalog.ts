import type { Kysely } from "kysely";
import type { SourceFileRef } from "../api/tasks.js";
import type { Database } from "../db/schema.js";
import { orchestratorError } from "../errors.js";
import { hashToken, newToken, type Permission, type Principal, permissions } from "./auth.js";
import type { HubContext } from "./context.js";
import { recordEvent } from "./events.js";
import { checkArch, checkName, checkPackageName, checkVersion } from "./validate.js";

/* Users, tokens, permissions, tags, targets, external repos and tagging: the hub's catalogue. Every
 * change is one transaction that also appends to the event log. */

async function exists(promise: Promise<unknown>): Promise<boolean> {
  return (await promise) !== undefined;
}

export async function createUser(ctx: HubContext, actor: Principal | null, name: string, perms: string[] = []): Promise<number> {
  checkName(name, "user");
  for (const perm of perms) checkPermission(perm);
  if (await exists(ctx.db.selectFrom("users").select("id").where("name", "=", name).executeTakeFirst()))
    throw orchestratorError("ALREADY_EXISTS", `user '${name}' exists already`);
  const id = await ctx.db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto("users")
      .values({ name, created_at: ctx.now(), disabled: 0 })
      .returning("id")
      .executeTakeFirstOrThrow();
    for (const perm of perms) await trx.insertInto("permissions").values({ user_id: row.id, perm }).execute();
    await recordEvent(
      trx,
      { userId: actor?.userId ?? null, kind: "user.created", objectType: "user", objectId: row.id, data: { name, perms } },
      ctx.now(),
    );
    return row.id;
  });
  ctx.bus.ping();
  return id;
}

function checkPermission(perm: string): Permission {
  if (!(permissions as readonly string[]).includes(perm))
    throw orchestratorError("REQUEST_INVALID", `unknown permission '${perm.slice(0, 40)}'; expected one of ${permissions.join(", ")}`);
  return perm as Permission;
}

async function userId(db: Kysely<Database>, name: string): Promise<number> {
  checkName(name, "user");
  const row = await db.selectFrom("users").select("id").where("name", "=", name).executeTakeFirst();
  if (!row) throw orchestratorError("NOT_FOUND", `user '${name}' does not exist`);
  return row.id;
}

export async function grant(ctx: HubContext, actor: Principal, name: string, perm: string, revoke = false): Promise<void> {
  checkPermission(perm);
  const id = await userId(ctx.db, name);
  await ctx.db.transaction().execute(async (trx) => {
    if (revoke) await trx.deleteFrom("permissions").where("user_id", "=", id).where("perm", "=", perm).execute();
    else
      await trx
        .insertInto("permissions")
        .values({ user_id: id, perm })
        .onConflict((oc) => oc.columns(["user_id", "perm"]).doNothing())
        .execute();
    await recordEvent(
      trx,
      { userId: actor.userId, kind: revoke ? "user.revoked" : "user.granted", objectType: "user", objectId: id, data: { name, perm } },
      ctx.now(),
    );
  });
  ctx.principals.clear();
  ctx.bus.ping();
}

/** A new API token for a user; the clear text is returned once and only its hash is kept. */
export async function createToken(
  ctx: HubContext,
  actor: Principal | null,
  name: string,
  label = "",
  expiresAt: number | null = null,
): Promise<{ token: string; id: number; expiresAt: number | null }> {
  const id = await userId(ctx.db, name);
  if (expiresAt !== null && expiresAt <= ctx.now())
    throw orchestratorError("REQUEST_INVALID", "expiresAt lies in the past", { details: { field: "expiresAt" } });
  if (actor && actor.userId !== id && !actor.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", "only an admin can create tokens for another user");
  const token = newToken();
  const row = await ctx.db.transaction().execute(async (trx) => {
    const inserted = await trx
      .insertInto("tokens")
      .values({
        user_id: id,
        hash: hashToken(token),
        label: label.slice(0, 200),
        created_at: ctx.now(),
        last_used_at: null,
        revoked: 0,
        expires_at: expiresAt,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    await recordEvent(
      trx,
      { userId: actor?.userId ?? null, kind: "token.created", objectType: "user", objectId: id, data: { name, token: inserted.id, label } },
      ctx.now(),
    );
    return inserted;
  });
  ctx.bus.ping();
  return { token, id: row.id, expiresAt };
}

/** A user's tokens (never their hashes): the user itself or an admin may list them. */
export async function listTokens(ctx: HubContext, actor: Principal, name: string) {
  const id = await userId(ctx.db, name);
  if (actor.userId !== id && !actor.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", "only an admin can list another user's tokens");
  const rows = await ctx.db
    .selectFrom("tokens")
    .select(["id", "label", "created_at", "last_used_at", "revoked", "expires_at"])
    .where("user_id", "=", id)
    .orderBy("id")
    .execute();
  return rows.map((t) => ({
    id: t.id,
    label: t.label,
    createdAt: t.created_at,
    lastUsedAt: t.last_used_at,
    revoked: t.revoked === 1,
    expiresAt: t.expires_at,
  }));
}

/**
 * Revoke a token at once: the token's owner or an admin. This hub forgets its cached tokens; other hubs on
 * the same database stop accepting it within their cache's lifetime (5 s). Web sessions using it end.
 */
export async function revokeToken(ctx: HubContext, actor: Principal, tokenId: number): Promise<{ id: number; user: string }> {
  const token = await ctx.db
    .selectFrom("tokens")
    .innerJoin("users", "users.id", "tokens.user_id")
    .select(["tokens.id", "tokens.user_id", "tokens.revoked", "users.name"])
    .where("tokens.id", "=", tokenId)
    .executeTakeFirst();
  if (!token) throw orchestratorError("NOT_FOUND", `token ${tokenId} does not exist`);
  if (token.user_id !== actor.userId && !actor.perms.has("admin"))
    throw orchestratorError("PERMISSION_DENIED", "only an admin can revoke another user's token");
  if (token.revoked === 0)
    await ctx.db.transaction().execute(async (trx) => {
      await trx.updateTable("tokens").set({ revoked: 1 }).where("id", "=", tokenId).execute();
      await recordEvent(
        trx,
        {
          userId: actor.userId,
          kind: "token.revoked",
          objectType: "user",
          objectId: token.user_id,
          data: { name: token.name, token: tokenId },
        },
        ctx.now(),
      );
    });
  ctx.principals.clear();
  ctx.bus.ping();
  return { id: tokenId, user: token.name };
}

/**
 * Disable (or enable again) a user: none of its tokens is accepted while it is disabled, and the tasks its
 * builder hosts hold are freed at once (their builders can no longer report). The last enabled admin
 * cannot be disabled.
 */
export async function setUserDisabled(
  ctx: HubContext,
  actor: Principal,
  name: string,
  disabled: boolean,
): Promise<{ user: string; disabled: boolean; freed: number[] }> {
  const id = await userId(ctx.db, name);
  const now = ctx.now();
  const freed = await ctx.db.transaction().execute(async (trx) => {
    if (disabled) {
      const admins = await trx
        .selectFrom("permissions")
        .innerJoin("users", "users.id", "permissions.user_id")
        .select("users.id")
        .where("permissions.perm", "=", "admin")
        .where("users.disabled", "=", 0)
        .execute();
      if (admins.length === 1 && admins[0]?.id === id)
        throw orchestratorError("PERMISSION_DENIED", `user '${name}' is the last enabled admin; disabling it would lock everyone out`, {
          hint: "grant admin to another user first",
        });
    }
    await trx
      .updateTable("users")
      .set({ disabled: disabled ? 1 : 0 })
      .where("id", "=", id)
      .execute();
    const tasks: { id: number; arch: string | null }[] = [];
    if (disabled) {
      const held = await trx
        .selectFrom("tasks")
        .innerJoin("hosts", "hosts.id", "tasks.host_id")
        .select(["tasks.id", "tasks.arch"])
        .where("hosts.user_id", "=", id)
        .where("tasks.state", "in", ["assigned", "open"])
        .execute();
      for (const task of held) {
        await trx
          .updateTable("tasks")
          .set({ state: "free", host_id: null, session: null, lease_expires: null })
          .where("id", "=", task.id)
          .execute();
        await recordEvent(
          trx,
          {
            userId: actor.userId,
            kind: "task.freed",
            objectType: "task",
            objectId: task.id,
            data: { state: "free", reason: "user-disabled" },
          },
          now,
        );
        tasks.push(task);
      }
    }
    await recordEvent(
      trx,
      { userId: actor.userId, kind: disabled ? "user.disabled" : "user.enabled", objectType: "user", objectId: id, data: { name } },
      now,
    );
    return tasks;
  });
  ctx.principals.clear();
  for (const task of freed) ctx.dispatcher.wake(task.arch);
  ctx.bus.ping();
  return { user: name, disabled, freed: freed.map((t) => t.id) };
}

export async function listUsers(db: Kysely<Database>) {
  const users = await db.selectFrom("users").selectAll().orderBy("name").execute();
  const perms = await db.selectFrom("permissions").selectAll().execute();
  return users.map((u) => ({
    id: u.id,
    name: u.name,
    disabled: u.disabled === 1,
    perms: perms
      .filter((p) => p.user_id === u.id)
      .map((p) => p.perm)
      .sort(),
  }));
}

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
}

async function setInheritance(ctx: HubContext, trx: Kysely<Database>, id: number, parents: string[]): Promise<void> {
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
  void ctx;
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
  if (await exists(ctx.db.selectFrom("tags").select("id").where("name", "=", name).executeTakeFirst()))
    throw orchestratorError("ALREADY_EXISTS", `tag '${name}' exists already`);
  const id = await ctx.db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto("tags")
      .values({ name, arches: arches.join(" "), created_at: ctx.now() })
      .returning("id")
      .executeTakeFirstOrThrow();
    await setInheritance(ctx, trx, row.id, spec.parents ?? []);
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
    if (spec.parents) await setInheritance(ctx, trx, id, spec.parents);
    if (spec.externalRepos) await setExternalRepos(trx, id, spec.externalRepos);
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
  };
}

/** A tag as GET /api/v1/tags/:name answers. */
export type TagView = Awaited<ReturnType<typeof describeTag>>;

export async function listTags(db: Kysely<Database>) {
  const tags = await db.selectFrom("tags").select("name").orderBy("name").execute();
  return Promise.all(tags.map((t) => describeTag(db, t.name)));
}

export async function createExternalRepo(
  ctx: HubContext,
  actor: Principal,
  spec: { name: string; url: string; suite: string; components?: string[] },
): Promise<number> {
  checkName(spec.name, "external repo");
  checkName(spec.suite, "suite");
  const components = (spec.components ?? ["main"]).map((c) => checkName(c, "component"));
  let url: URL;
  try {
    url = new URL(spec.url);
  } catch {
    throw orchestratorError("REQUEST_INVALID", `url '${spec.url.slice(0, 100)}' is not a URL`, { details: { field: "url" } });
  }
  if (!["http:", "https:", "file:"].includes(url.protocol))
    throw orchestratorError("REQUEST_INVALID", "url must be http(s):// or file://", { details: { field: "url" } });
  if (await exists(ctx.db.selectFrom("external_repos").select("id").where("name", "=", spec.name).executeTakeFirst()))
    throw orchestratorError("ALREADY_EXISTS", `external repo '${spec.name}' exists already`);
  const id = await ctx.db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto("external_repos")
      .values({
        name: spec.name,
        url: url.toString().replace(/\/$/, ""),
        suite: spec.suite,
        components: components.join(" "),
        created_at: ctx.now(),
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    await recordEvent(
      trx,
      { userId: actor.userId, kind: "external-repo.created", objectType: "external-repo", objectId: row.id, data: { ...spec } },
      ctx.now(),
    );
    return row.id;
  });
  ctx.bus.ping();
  return id;
}

export async function listExternalRepos(db: Kysely<Database>) {
  const rows = await db.selectFrom("external_repos").selectAll().orderBy("name").execute();
  return rows.map((r) => ({ name: r.name, url: r.url, suite: r.suite, components: r.components.split(" ") }));
}

export async function createTarget(
  ctx: HubContext,
  actor: Principal,
  spec: { name: string; buildTag: string; destTag: string },
): Promise<number> {
  checkName(spec.name, "target");
  const buildTag = await tagId(ctx.db, spec.buildTag);
  const destTag = await tagId(ctx.db, spec.destTag);
  if (await exists(ctx.db.selectFrom("targets").select("id").where("name", "=", spec.name).executeTakeFirst()))
    throw orchestratorError("ALREADY_EXISTS", `target '${spec.name}' exists already`);
  const id = await ctx.db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto("targets")
      .values({ name: spec.name, build_tag_id: buildTag, dest_tag_id: destTag })
      .returning("id")
      .executeTakeFirstOrThrow();
    await recordEvent(trx, { userId: actor.userId, kind: "target.created", objectType: "target", objectId: row.id, data: spec }, ctx.now());
    return row.id;
  });
  ctx.bus.ping();
  return id;
}

export async function listTargets(db: Kysely<Database>) {
  return db
    .selectFrom("targets")
    .innerJoin("tags as b", "b.id", "targets.build_tag_id")
    .innerJoin("tags as d", "d.id", "targets.dest_tag_id")
    .select(["targets.name", "b.name as buildTag", "d.name as destTag"])
    .orderBy("targets.name")
    .execute();
}

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

/** Tag or untag a build by hand; the caller then queues a newRepo of the tag. */
export async function setTagged(ctx: HubContext, actor: Principal, tag: string, buildRef: string, tagged: boolean): Promise<void> {
  const id = await tagId(ctx.db, tag);
  const build = await findBuild(ctx.db, buildRef);
  if (tagged && build.state !== "complete")
    throw orchestratorError("TASK_STATE", `build ${build.name}/${build.version} is ${build.state}; only complete builds are tagged`);
  await ctx.db.transaction().execute(async (trx) => {
    if (tagged)
      await trx
        .insertInto("tagged_builds")
        .values({ tag_id: id, build_id: build.id, package_id: build.package_id, tagged_at: ctx.now(), tagged_by: actor.userId })
        .onConflict((oc) => oc.columns(["tag_id", "build_id"]).doNothing())
        .execute();
    else {
      const res = await trx.deleteFrom("tagged_builds").where("tag_id", "=", id).where("build_id", "=", build.id).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0)
        throw orchestratorError("NOT_FOUND", `build ${build.name}/${build.version} is not in tag '${tag}'`);
    }
    await recordEvent(
      trx,
      {
        userId: actor.userId,
        kind: tagged ? "tag.build-added" : "tag.build-removed",
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
