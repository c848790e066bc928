import { rm } from "node:fs/promises";
import { orchestratorError } from "../errors.js";
import type { Principal } from "./auth.js";
import { findBuild } from "./catalog/builds.js";
import type { HubContext } from "./context.js";
import { recordEvent } from "./events.js";
import { logDir } from "./task-log.js";
import { submitNewRepo } from "./tasks/methods/new-repo.js";

export interface DeleteBuildResult {
  build: number;
  name: string;
  version: string;
  /** Tags the build was removed from. */
  untagged: string[];
  /** newRepo tasks queued: the tags it was in, and the tags inheriting from them that have a repository. */
  repoTasks: number[];
  artifacts: "kept" | "removed";
  /** sha256 of the stored files removed (with artifacts: remove). */
  removed: string[];
  /** sha256 of the build's files kept because something else refers to them (another build, a task). */
  shared: string[];
}

/**
 * Delete a build (admin): its state becomes `deleted` (the record and its history stay, Koji-style), it
 * leaves every tag it was in, and the repositories that showed it are regenerated without it. With
 * `removeArtifacts` the stored files only it refers to (its .debs, result files, source files) and its
 * tasks' logs are removed too; files another build or task refers to are kept. A building build must be
 * canceled first. The name and version may be built again afterwards.
 */
export async function deleteBuild(
  ctx: HubContext,
  principal: Principal,
  ref: string,
  options: { removeArtifacts?: boolean } = {},
): Promise<DeleteBuildResult> {
  const build = await findBuild(ctx.db, ref);
  const label = `${build.name}/${build.version}`;
  if (build.state === "building")
    throw orchestratorError("TASK_STATE", `build ${label} is still building`, {
      hint: build.task_id === null ? undefined : `cancel its task first: deb-orchestrator cancel ${build.task_id}`,
    });
  if (build.state === "deleted") throw orchestratorError("TASK_STATE", `build ${label} is deleted already`);
  const artifacts = options.removeArtifacts ? "removed" : "kept";
  const now = ctx.now();
  const untagged = await ctx.db.transaction().execute(async (trx) => {
    const res = await trx
      .updateTable("builds")
      .set({ state: "deleted" })
      .where("id", "=", build.id)
      .where("state", "=", build.state)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) throw orchestratorError("TASK_STATE", `build ${label} changed state while being deleted`);
    const tags = await trx
      .selectFrom("tagged_builds")
      .innerJoin("tags", "tags.id", "tagged_builds.tag_id")
      .select(["tags.id", "tags.name"])
      .where("tagged_builds.build_id", "=", build.id)
      .orderBy("tags.name")
      .execute();
    await trx.deleteFrom("tagged_builds").where("build_id", "=", build.id).execute();
    for (const tag of tags)
      await recordEvent(
        trx,
        {
          userId: principal.userId,
          kind: "tag.build-removed",
          objectType: "tag",
          objectId: tag.id,
          data: { tag: tag.name, build: build.id, reason: "build deleted" },
          buildId: build.id,
        },
        now,
      );
    await recordEvent(
      trx,
      {
        userId: principal.userId,
        kind: "build.state",
        objectType: "build",
        objectId: build.id,
        data: { state: "deleted", previous: build.state, name: build.name, version: build.version, artifacts },
      },
      now,
    );
    return tags;
  });
  ctx.bus.ping();

  const repoTasks: number[] = [];
  for (const tag of await tagsToRegenerate(
    ctx,
    untagged.map((t) => t.id),
  ))
    repoTasks.push(await submitNewRepo(ctx, principal, tag));

  const result: DeleteBuildResult = {
    build: build.id,
    name: build.name,
    version: build.version,
    untagged: untagged.map((t) => t.name),
    repoTasks,
    artifacts,
    removed: [],
    shared: [],
  };
  if (options.removeArtifacts) await removeArtifacts(ctx, build, result);
  ctx.logger.info({ build: build.id, name: build.name, version: build.version, artifacts, by: principal.name }, "build deleted");
  return result;
}

/** The tags the build was in (regenerated always) and their descendants that have a repository. */
async function tagsToRegenerate(ctx: HubContext, tagIds: number[]): Promise<string[]> {
  if (tagIds.length === 0) return [];
  const [edges, tags, published] = await Promise.all([
    ctx.db.selectFrom("tag_inheritance").select(["tag_id", "parent_id"]).execute(),
    ctx.db.selectFrom("tags").select(["id", "name"]).execute(),
    ctx.db.selectFrom("repos").select("tag_id").where("state", "=", "ready").distinct().execute(),
  ]);
  const hasRepo = new Set(published.map((r) => r.tag_id));
  const chosen = new Set(tagIds);
  const seen = new Set(tagIds);
  const frontier = [...tagIds];
  while (frontier.length) {
    const parent = frontier.shift()!;
    for (const edge of edges.filter((e) => e.parent_id === parent && !seen.has(e.tag_id))) {
      seen.add(edge.tag_id);
      frontier.push(edge.tag_id);
      if (hasRepo.has(edge.tag_id)) chosen.add(edge.tag_id);
    }
  }
  return tags
    .filter((t) => chosen.has(t.id))
    .map((t) => t.name)
    .sort();
}

async function removeArtifacts(
  ctx: HubContext,
  build: { id: number; task_id: number | null; source: string },
  result: DeleteBuildResult,
): Promise<void> {
  const { db } = ctx;
  const taskRows = await db.selectFrom("tasks").select("id").where("build_id", "=", build.id).execute();
  const taskIds = [...new Set([...taskRows.map((t) => t.id), ...(build.task_id === null ? [] : [build.task_id])])];
  const candidates = new Set<string>();
  for (const row of await db.selectFrom("binaries").select("sha256").where("build_id", "=", build.id).execute()) candidates.add(row.sha256);
  if (taskIds.length)
    for (const row of await db.selectFrom("task_files").select("sha256").where("task_id", "in", taskIds).execute())
      candidates.add(row.sha256);
  const source = JSON.parse(build.source) as { files?: { sha256?: unknown }[] };
  for (const file of source.files ?? []) if (typeof file.sha256 === "string") candidates.add(file.sha256);

  for (const sha256 of [...candidates].sort()) {
    if (!/^[0-9a-f]{64}$/.test(sha256)) continue;
    const elsewhere = await Promise.all([
      db.selectFrom("binaries").select("id").where("sha256", "=", sha256).where("build_id", "!=", build.id).limit(1).executeTakeFirst(),
      db
        .selectFrom("task_files")
        .select("task_id")
        .where("sha256", "=", sha256)
        .$if(taskIds.length > 0, (q) => q.where("task_id", "not in", taskIds))
        .limit(1)
        .executeTakeFirst(),
      // source files are named in other builds' source lists and in build requests (scratch builds too)
      db.selectFrom("builds").select("id").where("id", "!=", build.id).where("source", "like", `%${sha256}%`).limit(1).executeTakeFirst(),
      db
        .selectFrom("tasks")
        .select("id")
        .where("request", "like", `%${sha256}%`)
        .$if(taskIds.length > 0, (q) => q.where("id", "not in", taskIds))
        .limit(1)
        .executeTakeFirst(),
    ]);
    if (elsewhere.some((row) => row !== undefined)) result.shared.push(sha256);
    else if (await ctx.store.remove(sha256)) result.removed.push(sha256);
  }
  for (const id of taskIds) await rm(logDir(ctx, id), { recursive: true, force: true });
}
