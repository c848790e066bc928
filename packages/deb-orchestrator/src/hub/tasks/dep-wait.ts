import { readFile } from "node:fs/promises";
import {
  type BuildDepCheckResult,
  checkBuildDependencies,
  describeUnsatisfied,
  matchRelation,
  PackageUniverse,
  parseRelations,
  type UnsatisfiedBuildDependency,
} from "@debian-bootc/debian";
import { type BuildArchRequest, type BuildRequest, type ExtraRepo, methodCapability } from "../../api/tasks.js";
import { tagChain, tagExternalRepos } from "../catalog/tags.js";
import type { HubContext } from "../context.js";
import { parseSubmittedDsc } from "../submitted-source.js";
import { DEFAULT_PRIORITY } from "./methods/build.js";
import { requestOf } from "./methods/registry.js";
import * as transition from "./transitions.js";

/*
 * Dep-wait, as Debian's wanna-build has it: before a buildArch goes to a builder, the hub checks its
 * build-dependencies (with the debian package's installability check, as dose-builddebcheck does) against
 * what the builder's apt will see: its build tag's repository, the base deb-mock builds on (its profile's
 * suite, whether or not the tag has external repositories) and the tag's external repositories. What
 * cannot be satisfied holds the task in dep-wait, with the unsatisfied relations recorded; it uses no
 * builder. Whenever a tag's repository is regenerated, the tasks waiting on it are checked again and
 * released when they can be built; all waiting tasks are checked again when the hub starts and
 * periodically (a new Release of the base or an external repository).
 */

/** One unsatisfied build-dependency as a dep-wait task records it. */
export interface DepWaitRelation {
  /** The group as written, alternatives joined with " | ". */
  relation: string;
  field: string;
  kind: string;
  /** Plain words: "libfoo-dev (>= 1.0) is not in tag demo or debian/trixie". */
  line: string;
  /** The relations a pending build could satisfy to end the wait: the alternatives, and a missing dependency deeper down. */
  wanted: string[];
}

export interface DepWaitRecord {
  checkedAt: number;
  /** Where it was looked for, in order ("tag demo", "debian/trixie"). */
  searched: string[];
  unsatisfied: DepWaitRelation[];
}

/** What the builder installs besides the source's build-dependencies (deb-mock's bases are variant buildd). */
const BUILDER_EXTRA = "build-essential";

/** The record of an unsatisfiable check, in plain words naming the tag and its external repositories. */
export function depWaitRecord(result: BuildDepCheckResult, searched: readonly string[], now: number): DepWaitRecord {
  const wanted = (u: UnsatisfiedBuildDependency) => [
    ...u.alternatives.map((a) => a.relation),
    ...(u.cause && u.chain?.length ? u.cause.problems.filter((p) => p.kind !== "dependency").map((p) => p.relation) : []),
  ];
  return {
    checkedAt: now,
    searched: [...searched],
    unsatisfied: result.unsatisfied.map((u) => ({
      relation: u.relation,
      field: u.field,
      kind: u.kind,
      line: describeUnsatisfied(u, searched),
      wanted: [...new Set(wanted(u))],
    })),
  };
}

/**
 * Check a buildArch's build-dependencies. Returns the dep-wait record when they cannot be satisfied, or
 * undefined when they can, or when the hub cannot tell (neither a known base nor an external repository
 * says what the environment holds, an index that cannot be read, a search that gave up): apt on the
 * builder then decides, as before.
 */
export async function checkBuildArch(ctx: HubContext, request: BuildArchRequest): Promise<DepWaitRecord | undefined> {
  const tag = await ctx.db.selectFrom("tags").select(["id", "name"]).where("name", "=", request.buildTag).executeTakeFirst();
  const dscRef = request.files.find((f) => f.name === request.dsc);
  if (!tag || !dscRef) return undefined;
  try {
    const externals = await tagExternalRepos(ctx.db, tag.id);
    const universe = await ctx.depUniverses.forTag(ctx, tag, request.arch, externals);
    if (!universe) return undefined;
    const dsc = parseSubmittedDsc(await readFile(ctx.store.pathOf(dscRef.sha256), "utf8"), request.dsc);
    const result = checkBuildDependencies(dsc.paragraph, universe.checker, { arch: request.arch, extraDependencies: BUILDER_EXTRA });
    if (result.status !== "unsatisfiable") return undefined;
    const searched = [`tag ${tag.name}`, ...universe.searched.filter((s) => s !== `tag ${tag.name}`)];
    return depWaitRecord(result, searched, ctx.now());
  } catch (error) {
    ctx.logger.warn({ source: request.source, arch: request.arch, err: (error as Error).message }, "build-dependency check skipped");
    return undefined;
  }
}

/** The number of a tag's newest ready repository (undefined before the first). */
export async function readyRepoNumber(ctx: HubContext, tagName: string): Promise<number | undefined> {
  const row = await ctx.db
    .selectFrom("repos")
    .innerJoin("tags", "tags.id", "repos.tag_id")
    .select("repos.number")
    .where("tags.name", "=", tagName)
    .where("repos.state", "=", "ready")
    .orderBy("repos.number", "desc")
    .executeTakeFirst();
  return row?.number;
}

/** The repositories a buildArch installs build-dependencies from: the build tag's own (once published), then its external ones. */
export async function buildTagRepos(ctx: HubContext, buildTag: string): Promise<ExtraRepo[]> {
  const repos: ExtraRepo[] = [];
  const tag = await ctx.db.selectFrom("tags").select("id").where("name", "=", buildTag).executeTakeFirst();
  if (!tag) return repos;
  const ready = await ctx.db.selectFrom("repos").select("id").where("tag_id", "=", tag.id).where("state", "=", "ready").executeTakeFirst();
  if (ready)
    repos.push({
      url: `${ctx.publicUrl}/repos/${buildTag}/latest`,
      suite: buildTag,
      components: ["main"],
      ...(ctx.repoPublicKey ? { key: ctx.repoPublicKey } : {}),
    });
  for (const external of await tagExternalRepos(ctx.db, tag.id))
    repos.push({ url: external.url, suite: external.suite, components: external.components.split(" ") });
  return repos;
}

/**
 * A tag's repository was regenerated: check again every dep-wait task that builds in it; release those
 * that can be built now (with the repositories as they are now: the tag's may not have existed at
 * submission) and record what the others still miss. Returns the released task ids.
 */
export async function recheckDepWaits(ctx: HubContext, tagName: string): Promise<number[]> {
  const waiting = await ctx.db.selectFrom("tasks").selectAll().where("state", "=", "dep-wait").where("method", "=", "buildArch").execute();
  const released: number[] = [];
  const inheriting = new Map<string, number>();
  for (const task of waiting) {
    const request = requestOf("buildArch", task);
    if (request.buildTag !== tagName) {
      if (!inheriting.has(request.buildTag) && (await inherits(ctx, request.buildTag, tagName)))
        inheriting.set(request.buildTag, task.owner_id);
      continue;
    }
    if (await recheckOne(ctx, task.id, request)) released.push(task.id);
  }
  announceReleased(ctx, released, { tag: tagName });
  // a build tag that inherits this one sees its new builds in its own next repository: regenerate it
  for (const [buildTag, ownerId] of inheriting) await queueNewRepo(ctx, buildTag, ownerId);
  return released;
}

/**
 * Every dep-wait task checked again against what its build tag sees now, whatever changed: run when the
 * hub starts (a repository regenerated while it was down, a check it did not finish) and periodically,
 * so that a new Release of the base or of an external repository (read again at most as often) ends the
 * waits it satisfies. Returns the released task ids.
 */
export async function recheckAllDepWaits(ctx: HubContext): Promise<number[]> {
  const waiting = await ctx.db.selectFrom("tasks").selectAll().where("state", "=", "dep-wait").where("method", "=", "buildArch").execute();
  const released: number[] = [];
  for (const task of waiting) if (await recheckOne(ctx, task.id, requestOf("buildArch", task))) released.push(task.id);
  announceReleased(ctx, released, { all: true });
  return released;
}

/** Check one waiting task again: release it when it can be built, else record what it still misses. */
async function recheckOne(ctx: HubContext, taskId: number, request: BuildArchRequest): Promise<boolean> {
  const record = await checkBuildArch(ctx, request);
  if (record) {
    await ctx.db.transaction().execute((trx) => transition.recordDepWait(trx, taskId, record));
    return false;
  }
  const fresh = { ...request, extraRepos: await buildTagRepos(ctx, request.buildTag) };
  if (!(await ctx.db.transaction().execute((trx) => transition.releaseDepWait(trx, ctx, taskId, fresh)))) return false;
  ctx.dispatcher.wake(request.arch, methodCapability.buildArch);
  return true;
}

function announceReleased(ctx: HubContext, released: readonly number[], why: object): void {
  if (released.length === 0) return;
  ctx.logger.info({ ...why, tasks: released }, "dep-wait tasks released");
  ctx.bus.ping();
}

/** Whether `tagName`'s repository holds `parent`'s builds (it is the tag or inherits it). */
async function inherits(ctx: HubContext, tagName: string, parent: string): Promise<boolean> {
  const tag = await ctx.db.selectFrom("tags").select("id").where("name", "=", tagName).executeTakeFirst();
  if (!tag) return false;
  const chain = await tagChain(ctx.db, tag.id);
  const names = await ctx.db.selectFrom("tags").select("name").where("id", "in", chain).execute();
  return names.some((n) => n.name === parent);
}

/** A newRepo of a build tag with waiting tasks, unless one is queued or running already. */
async function queueNewRepo(ctx: HubContext, tagName: string, ownerId: number): Promise<void> {
  const tag = await ctx.db.selectFrom("tags").select("id").where("name", "=", tagName).executeTakeFirst();
  if (!tag) return;
  const id = await ctx.db.transaction().execute(async (trx) => {
    const pending = await trx
      .selectFrom("tasks")
      .select("id")
      .where("method", "=", "newRepo")
      .where("tag_id", "=", tag.id)
      .where("state", "=", "open")
      .executeTakeFirst();
    if (pending) return undefined;
    return transition.insert(trx, ctx, {
      parentId: null,
      label: null,
      method: "newRepo",
      arch: null,
      priority: DEFAULT_PRIORITY,
      ownerId,
      request: { tag: tagName },
      tagId: tag.id,
    });
  });
  if (id === undefined) return;
  ctx.logger.info({ tag: tagName, task: id }, "regenerating a build tag for its dep-wait tasks");
  ctx.bus.ping();
  ctx.advance(id);
}

/** A build in progress that would provide a wanted relation once it lands. */
export interface PendingProducer {
  build: number;
  source: string;
  version: string;
  /** The binary package it produces that satisfies the relation. */
  binary: string;
}

/**
 * The pending builds (not scratch, not ended) whose destination tag the build tag's repository includes
 * (the tag itself or one it inherits), with the binaries their .dsc lists, at the source's version.
 */
async function pendingBuilds(ctx: HubContext, buildTag: string, exceptTask: number | null) {
  const tag = await ctx.db.selectFrom("tags").select("id").where("name", "=", buildTag).executeTakeFirst();
  if (!tag) return [];
  const chain = await tagChain(ctx.db, tag.id);
  const names = new Set((await ctx.db.selectFrom("tags").select(["id", "name"]).where("id", "in", chain).execute()).map((t) => t.name));
  const open = await ctx.db
    .selectFrom("tasks")
    .selectAll()
    .where("method", "=", "build")
    .where("state", "=", "open")
    .where("build_id", "is not", null)
    .orderBy("id")
    .execute();
  const builds: Array<{ build: number; source: string; version: string; binaries: string[] }> = [];
  for (const task of open) {
    if (task.id === exceptTask || task.result === null) continue;
    const progress = JSON.parse(task.result) as { destTag?: string; scratch?: boolean };
    if (progress.scratch || !progress.destTag || !names.has(progress.destTag)) continue;
    const request = requestOf("build", task) as BuildRequest;
    const dscRef = request.files.find((f) => f.name === request.dsc);
    if (!dscRef) continue;
    try {
      const dsc = parseSubmittedDsc(await readFile(ctx.store.pathOf(dscRef.sha256), "utf8"), request.dsc);
      builds.push({ build: task.build_id!, source: dsc.source, version: dsc.version, binaries: dsc.binaries });
    } catch {
      // a .dsc that no longer reads: that build produces nothing we can name
    }
  }
  return builds;
}

/** For each unsatisfied relation, the first pending build that produces something satisfying it. */
export function findProducers(
  record: DepWaitRecord,
  builds: ReadonlyArray<{ build: number; source: string; version: string; binaries: readonly string[] }>,
  arch: string,
): Array<PendingProducer | undefined> {
  return record.unsatisfied.map((u) => {
    for (const build of builds) {
      const universe = new PackageUniverse(
        arch,
        build.binaries.map((name) => ({ name, version: build.version, architecture: arch })),
      );
      for (const wanted of u.wanted) {
        for (const rel of parseRelations(wanted).flat()) {
          const found = matchRelation(rel, universe, { arch }).packages[0];
          if (found) return { build: build.build, source: build.source, version: build.version, binary: found.name };
        }
      }
    }
    return undefined;
  });
}

/**
 * The one line `why` gives for a dep-wait task, e.g.
 * `waiting: libbarsdemo-dev (>= 1.0) is not in tag demo or debian/trixie, and no pending build produces it`
 * or `waiting for build 12 (barsdemo-lib 1.0), which produces libbarsdemo-dev 1.0`.
 */
export function depWaitReason(record: DepWaitRecord, producers: ReadonlyArray<PendingProducer | undefined>): string {
  const parts = record.unsatisfied.map((u, i) => {
    const p = producers[i];
    return p
      ? `waiting for build ${p.build} (${p.source} ${p.version}), which produces ${p.binary} ${p.version}`
      : `waiting: ${u.line}, and no pending build produces it`;
  });
  return [...new Set(parts)].join("; ") || "waiting for its build-dependencies";
}

/** Why a dep-wait task waits: its record and the pending builds that would end the wait. */
export async function explainDepWait(
  ctx: HubContext,
  task: transition.TaskRow,
): Promise<{ reason: string; details: { unsatisfied: DepWaitRelation[]; searched: string[]; producers: (PendingProducer | null)[] } }> {
  const record = task.dep_wait ? (JSON.parse(task.dep_wait) as DepWaitRecord) : { checkedAt: 0, searched: [], unsatisfied: [] };
  const request = requestOf("buildArch", task);
  const producers = findProducers(record, await pendingBuilds(ctx, request.buildTag, task.parent_id), request.arch);
  return {
    reason: depWaitReason(record, producers),
    details: { unsatisfied: record.unsatisfied, searched: record.searched, producers: producers.map((p) => p ?? null) },
  };
}
