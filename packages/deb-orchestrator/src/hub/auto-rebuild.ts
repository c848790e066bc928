import { readFile } from "node:fs/promises";
import { type BatchSource, binNmuVersion, rebuildOrder } from "@debian-bootc/debian";
import type { Kysely } from "kysely";
import type { BuildSource } from "../api/builds.js";
import type { Database } from "../db/schema.js";
import { orchestratorError } from "../errors.js";
import type { HubContext } from "./context.js";
import { parseSubmittedDsc } from "./submitted-source.js";
import { submitBuild } from "./tasks/methods/build.js";

/*
 * Automatic rebuilds (opt-in per tag, OBS-style, versioned as Debian's binNMUs): when a build lands in a
 * tag whose `auto_rebuild` cap is above 0, the tag's own packages that build-depend on its binaries, and
 * then those that build-depend on theirs, are rebuilt in dependency order as `VERSION+bN`, from their
 * unchanged source. Each landed build is looked at once (rebuild_triggers), so a change causes each
 * rebuild once; rebuilds themselves landing only move their plan on. A change needing more rebuilds than
 * the cap queues none (the trigger records why). Everything here runs after the tag's repository was
 * regenerated (newRepo), so a rebuild always sees what it is rebuilt against.
 */

export interface PlannedRebuild {
  level: number;
  source: string;
  /** The build being rebuilt and its version. */
  baseBuild: number;
  baseVersion: string;
  /** The rebuild's version and its N. */
  version: string;
  binnmu: number;
  /** The binNMU's changelog line. */
  reason: string;
  /** What makes it affected: its relation and the source that satisfies it. */
  because: { relation: string; source: string };
}

export interface RebuildPlan {
  tag: string;
  cap: number;
  trigger: { build: number; name: string; version: string };
  rebuilds: PlannedRebuild[];
  /** True when the plan needs more rebuilds than the cap allows: nothing is queued. */
  overCap: boolean;
}

interface TagRow {
  id: number;
  name: string;
  arches: string;
  auto_rebuild: number;
  auto_rebuild_since: number | null;
}

async function dscOf(ctx: HubContext, buildSource: string) {
  const from = JSON.parse(buildSource) as BuildSource;
  const ref = from.files.find((f) => f.name === from.dsc);
  if (!ref) throw orchestratorError("SOURCE_INVALID", `the build's .dsc '${from.dsc}' is not among its files`);
  return { from, control: parseSubmittedDsc(await readFile(ctx.store.pathOf(ref.sha256), "utf8"), from.dsc) };
}

/** The next free N for a binNMU of this source version (1 when none exists). */
async function nextBinNmu(db: Kysely<Database>, source: string, sourceVersion: string): Promise<number> {
  const rows = await db
    .selectFrom("builds")
    .select("version")
    .where("name", "=", source)
    .where("version", "like", `${sourceVersion}+b%`)
    .execute();
  const planned = await db
    .selectFrom("rebuilds")
    .select("version")
    .where("source", "=", source)
    .where("version", "like", `${sourceVersion}+b%`)
    .execute();
  let n = 0;
  for (const { version } of [...rows, ...planned]) {
    const m = /\+b([0-9]+)$/.exec(version);
    if (m && version === binNmuVersion(sourceVersion, Number(m[1]))) n = Math.max(n, Number(m[1]));
  }
  return n + 1;
}

/** What a build landing in a tag causes: the tag's own packages to rebuild, level by level. */
export async function planRebuilds(ctx: HubContext, tag: TagRow, triggerBuild: number): Promise<RebuildPlan> {
  const trigger = await ctx.db
    .selectFrom("builds")
    .select(["id", "name", "version", "source"])
    .where("id", "=", triggerBuild)
    .executeTakeFirst();
  if (!trigger) throw orchestratorError("NOT_FOUND", `build ${triggerBuild} does not exist`);
  const changed = await dscOf(ctx, trigger.source);
  // the tag's own packages (not inherited ones: those belong to another tag's owners), the latest build of each
  const tagged = await ctx.db
    .selectFrom("tagged_builds")
    .innerJoin("builds", "builds.id", "tagged_builds.build_id")
    .select(["builds.id", "builds.name", "builds.version", "builds.source", "tagged_builds.tagged_at"])
    .where("tagged_builds.tag_id", "=", tag.id)
    .where("builds.state", "=", "complete")
    .orderBy("tagged_builds.tagged_at", "desc")
    .orderBy("builds.id", "desc")
    .execute();
  const latest = new Map<string, (typeof tagged)[number]>();
  for (const row of tagged) if (!latest.has(row.name)) latest.set(row.name, row);
  const sources: BatchSource[] = [];
  const builds = new Map<string, { id: number; version: string; sourceVersion: string }>();
  for (const row of latest.values()) {
    if (row.name === trigger.name) continue;
    const { control } = await dscOf(ctx, row.source);
    sources.push({ ...control, binaryVersion: row.version });
    builds.set(control.source, { id: row.id, version: row.version, sourceVersion: control.version });
  }
  const order = rebuildOrder(
    sources,
    { source: changed.control.source, version: trigger.version, binaries: changed.control.binaries },
    { arch: tag.arches.split(" ")[0] ?? "amd64" },
  );
  const rebuilds: PlannedRebuild[] = [];
  for (const [i, level] of order.levels.entries()) {
    for (const source of level) {
      const base = builds.get(source)!;
      const edge =
        order.edges.find((e) => e.source === source && e.needs === trigger.name) ?? order.edges.find((e) => e.source === source)!;
      const number = await nextBinNmu(ctx.db, source, base.sourceVersion);
      const through = edge.needs === trigger.name ? "" : ` (through ${edge.needs})`;
      rebuilds.push({
        level: i + 1,
        source,
        baseBuild: base.id,
        baseVersion: base.version,
        version: binNmuVersion(base.sourceVersion, number),
        binnmu: number,
        reason: `Rebuild against ${trigger.name} ${trigger.version}${through}.`,
        because: { relation: edge.relation, source: edge.needs },
      });
    }
  }
  return {
    tag: tag.name,
    cap: tag.auto_rebuild,
    trigger: { build: trigger.id, name: trigger.name, version: trigger.version },
    rebuilds,
    overCap: rebuilds.length > tag.auto_rebuild,
  };
}

/**
 * After a tag's repository was regenerated: record the rebuilds that ended, look at the builds newly
 * tagged (each once), and queue every planned rebuild whose earlier levels are done.
 */
export async function advanceRebuilds(ctx: HubContext, tagName: string): Promise<void> {
  const tag = await ctx.db
    .selectFrom("tags")
    .select(["id", "name", "arches", "auto_rebuild", "auto_rebuild_since"])
    .where("name", "=", tagName)
    .executeTakeFirst();
  if (!tag) return;
  await settleQueued(ctx, tag.id);
  if (tag.auto_rebuild > 0) await lookAtNewBuilds(ctx, tag);
  await queueReady(ctx, tag);
}

async function settleQueued(ctx: HubContext, tagId: number): Promise<void> {
  const queued = await ctx.db
    .selectFrom("rebuilds")
    .innerJoin("tasks", "tasks.id", "rebuilds.task_id")
    .select(["rebuilds.id", "rebuilds.trigger_build_id", "rebuilds.level", "tasks.state", "tasks.build_id"])
    .where("rebuilds.tag_id", "=", tagId)
    .where("rebuilds.state", "=", "queued")
    .execute();
  for (const row of queued) {
    if (row.state === "failed" || row.state === "canceled") {
      await ctx.db.transaction().execute(async (trx) => {
        await trx.updateTable("rebuilds").set({ state: "failed", build_id: row.build_id }).where("id", "=", row.id).execute();
        await trx
          .updateTable("rebuilds")
          .set({ state: "blocked" })
          .where("tag_id", "=", tagId)
          .where("trigger_build_id", "=", row.trigger_build_id)
          .where("level", ">", row.level)
          .where("state", "=", "planned")
          .execute();
      });
      continue;
    }
    if (row.build_id === null) continue;
    const landed = await ctx.db
      .selectFrom("tagged_builds")
      .innerJoin("builds", "builds.id", "tagged_builds.build_id")
      .select("builds.id")
      .where("tagged_builds.tag_id", "=", tagId)
      .where("tagged_builds.build_id", "=", row.build_id)
      .where("builds.state", "=", "complete")
      .executeTakeFirst();
    if (landed) await ctx.db.updateTable("rebuilds").set({ state: "done", build_id: row.build_id }).where("id", "=", row.id).execute();
  }
}

async function lookAtNewBuilds(ctx: HubContext, tag: TagRow): Promise<void> {
  const fresh = await ctx.db
    .selectFrom("tagged_builds")
    .innerJoin("builds", "builds.id", "tagged_builds.build_id")
    .leftJoin("rebuild_triggers", (join) =>
      join.onRef("rebuild_triggers.build_id", "=", "tagged_builds.build_id").onRef("rebuild_triggers.tag_id", "=", "tagged_builds.tag_id"),
    )
    .select(["builds.id", "builds.name", "builds.version"])
    .where("tagged_builds.tag_id", "=", tag.id)
    .where("builds.state", "=", "complete")
    .where("tagged_builds.tagged_at", ">=", tag.auto_rebuild_since ?? 0)
    .where("rebuild_triggers.build_id", "is", null)
    .orderBy("tagged_builds.tagged_at")
    .execute();
  for (const build of fresh) {
    // a rebuild landing is the plan going on, not a change of its own
    const isQueuedRebuild = await rebuildOf(ctx.db, build.id);
    let plan: RebuildPlan | undefined;
    let outcome: string;
    if (isQueuedRebuild) outcome = "none: an automatic rebuild";
    else {
      try {
        plan = await planRebuilds(ctx, tag, build.id);
        outcome = plan.overCap
          ? `over cap: ${plan.rebuilds.length} rebuilds needed, the tag allows ${plan.cap}`
          : plan.rebuilds.length
            ? `planned ${plan.rebuilds.length}`
            : "none: nothing build-depends on it";
      } catch (error) {
        // a cycle among the tag's packages, a source that cannot be read: recorded, nothing queued
        outcome = `not planned: ${(error as Error).message}`;
        plan = undefined;
      }
    }
    const inserted = await ctx.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto("rebuild_triggers")
        .values({ tag_id: tag.id, build_id: build.id, outcome, created_at: ctx.now() })
        .onConflict((oc) => oc.columns(["tag_id", "build_id"]).doNothing())
        .executeTakeFirst();
      if (Number(row.numInsertedOrUpdatedRows ?? 0) === 0) return false;
      if (plan && !plan.overCap)
        for (const r of plan.rebuilds)
          await trx
            .insertInto("rebuilds")
            .values({
              tag_id: tag.id,
              trigger_build_id: build.id,
              base_build_id: r.baseBuild,
              source: r.source,
              level: r.level,
              version: r.version,
              binnmu: r.binnmu,
              reason: r.reason,
              state: "planned",
              created_at: ctx.now(),
            })
            .execute();
      return true;
    });
    if (inserted)
      ctx.logger.info({ tag: tag.name, build: build.id, name: build.name, version: build.version, outcome }, "automatic rebuilds");
  }
}

async function queueReady(ctx: HubContext, tag: TagRow): Promise<void> {
  const open = await ctx.db
    .selectFrom("rebuilds")
    .selectAll()
    .where("tag_id", "=", tag.id)
    .where("state", "in", ["planned", "queued", "failed"])
    .execute();
  const triggers = new Set(open.map((r) => r.trigger_build_id));
  for (const trigger of triggers) {
    const rows = open.filter((r) => r.trigger_build_id === trigger);
    // the lowest level not done yet, and only when none of it is under way or failed
    const level = Math.min(...rows.map((r) => r.level));
    const current = rows.filter((r) => r.level === level);
    if (current.some((r) => r.state !== "planned")) continue;
    for (const row of current) await queueOne(ctx, tag, row);
  }
}

async function queueOne(
  ctx: HubContext,
  tag: TagRow,
  row: { id: number; base_build_id: number; binnmu: number; reason: string; source: string },
) {
  const target = await ctx.db.selectFrom("targets").select("name").where("dest_tag_id", "=", tag.id).orderBy("name").executeTakeFirst();
  const base = await ctx.db
    .selectFrom("builds")
    .select(["source", "owner_id"])
    .where("id", "=", row.base_build_id)
    .executeTakeFirstOrThrow();
  if (!target) {
    await ctx.db.updateTable("rebuilds").set({ state: "failed" }).where("id", "=", row.id).execute();
    ctx.logger.warn({ tag: tag.name, source: row.source }, "automatic rebuild: no target builds into this tag");
    return;
  }
  // compare-and-set: another hub process may be queueing the same row
  const claimed = await ctx.db
    .updateTable("rebuilds")
    .set({ state: "queued" })
    .where("id", "=", row.id)
    .where("state", "=", "planned")
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) !== 1) return;
  const from = JSON.parse(base.source) as BuildSource;
  const owner = await ctx.db.selectFrom("users").select(["id", "name"]).where("id", "=", base.owner_id).executeTakeFirstOrThrow();
  try {
    const task = await submitBuild(
      ctx,
      { userId: owner.id, name: owner.name, perms: new Set(["build"]) },
      { target: target.name, dsc: from.dsc, files: from.files, binnmu: { number: row.binnmu, reason: row.reason, date: ctx.now() } },
    );
    await ctx.db.updateTable("rebuilds").set({ task_id: task }).where("id", "=", row.id).execute();
    ctx.logger.info({ tag: tag.name, source: row.source, task, binnmu: row.binnmu }, "automatic rebuild queued");
  } catch (error) {
    await ctx.db.updateTable("rebuilds").set({ state: "failed" }).where("id", "=", row.id).execute();
    ctx.logger.warn({ tag: tag.name, source: row.source, err: (error as Error).message }, "automatic rebuild could not be queued");
  }
}

/** A tag's automatic rebuilds, newest trigger first: what each change caused and where each rebuild is. */
export async function listRebuilds(ctx: HubContext, tagName: string) {
  const tag = await ctx.db.selectFrom("tags").select(["id", "auto_rebuild"]).where("name", "=", tagName).executeTakeFirst();
  if (!tag) throw orchestratorError("NOT_FOUND", `tag '${tagName}' does not exist`, { hint: "see deb-orchestrator list-tags" });
  const triggers = await ctx.db
    .selectFrom("rebuild_triggers")
    .innerJoin("builds", "builds.id", "rebuild_triggers.build_id")
    .select(["builds.id", "builds.name", "builds.version", "rebuild_triggers.outcome", "rebuild_triggers.created_at"])
    .where("rebuild_triggers.tag_id", "=", tag.id)
    .orderBy("rebuild_triggers.created_at", "desc")
    .orderBy("builds.id", "desc")
    .execute();
  const rows = await ctx.db.selectFrom("rebuilds").selectAll().where("tag_id", "=", tag.id).orderBy("level").orderBy("id").execute();
  return {
    tag: tagName,
    cap: tag.auto_rebuild,
    triggers: triggers.map((t) => ({
      build: t.id,
      name: t.name,
      version: t.version,
      outcome: t.outcome,
      at: t.created_at,
      rebuilds: rows
        .filter((r) => r.trigger_build_id === t.id)
        .map((r) => ({
          level: r.level,
          source: r.source,
          version: r.version,
          reason: r.reason,
          state: r.state,
          task: r.task_id,
          build: r.build_id,
        })),
    })),
  };
}

/** What a build landing in the tag would cause (by default the build tagged into it last), without queueing anything. */
export async function dryRunRebuilds(ctx: HubContext, tagName: string, buildId?: number): Promise<RebuildPlan> {
  const tag = await ctx.db
    .selectFrom("tags")
    .select(["id", "name", "arches", "auto_rebuild", "auto_rebuild_since"])
    .where("name", "=", tagName)
    .executeTakeFirst();
  if (!tag) throw orchestratorError("NOT_FOUND", `tag '${tagName}' does not exist`, { hint: "see deb-orchestrator list-tags" });
  const last = await ctx.db
    .selectFrom("tagged_builds")
    .select("build_id")
    .where("tag_id", "=", tag.id)
    .orderBy("tagged_at", "desc")
    .orderBy("build_id", "desc")
    .executeTakeFirst();
  const build = buildId ?? last?.build_id;
  if (build === undefined) throw orchestratorError("NOT_FOUND", `tag '${tagName}' has no builds`);
  return planRebuilds(ctx, tag, build);
}

/** The automatic rebuild a build is, if it is one: for `why` and the build's page. */
export async function rebuildOf(db: Kysely<Database>, buildId: number) {
  return db
    .selectFrom("rebuilds")
    .innerJoin("tasks", "tasks.id", "rebuilds.task_id")
    .innerJoin("builds", "builds.id", "rebuilds.trigger_build_id")
    .innerJoin("tags", "tags.id", "rebuilds.tag_id")
    .select(["rebuilds.reason", "rebuilds.version", "builds.name as triggerName", "builds.version as triggerVersion", "tags.name as tag"])
    .where("tasks.build_id", "=", buildId)
    .executeTakeFirst();
}
