import type { Kysely } from "kysely";
import type { Database } from "../../db/schema.js";
import { orchestratorError } from "../../errors.js";
import type { Principal } from "../auth.js";
import type { HubContext } from "../context.js";
import { recordEvent } from "../events.js";
import { checkName } from "../validate.js";
import { tagId } from "./tags.js";

/* Targets (build tag -> destination tag) and external repositories (Debian suites used as build input). */

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
  if (await ctx.db.selectFrom("external_repos").select("id").where("name", "=", spec.name).executeTakeFirst())
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
  if (await ctx.db.selectFrom("targets").select("id").where("name", "=", spec.name).executeTakeFirst())
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
