import type { Kysely, Selectable } from "kysely";
import { activeStates, builderMethods } from "../api/tasks.js";
import type { Database, EventsTable, HostsTable, TasksTable } from "../db/schema.js";
import { hostLoads } from "../hub/hosts.js";

/*
 * Read-only queries behind the web pages. Each page issues a fixed, small number of queries whatever the
 * size of the database: lists are paginated (LIMIT n+1 to know whether a next page exists, no COUNT over
 * big tables), and every filter goes through an index the hub's migrations create (tasks by state, tasks
 * by parent, by owner, by build, failures by state and completion time, builds by name, state and owner,
 * events by object; see db/indexes.test.ts) or through a primary key.
 */

export type Db = Kysely<Database>;
export type TaskRow = Selectable<TasksTable>;
export type HostRow = Selectable<HostsTable>;

export const PAGE_SIZE = 50;

export const buildStates = ["building", "complete", "failed", "canceled", "deleted"] as const;

export interface Page<T> {
  rows: T[];
  page: number;
  hasNext: boolean;
}

/** One page of an ordered query; the one row fetched past the page tells whether there is a next. */
async function pageOf<T>(query: { limit(n: number): { offset(n: number): { execute(): Promise<T[]> } } }, page: number): Promise<Page<T>> {
  const rows = await query
    .limit(PAGE_SIZE + 1)
    .offset((page - 1) * PAGE_SIZE)
    .execute();
  return { rows: rows.slice(0, PAGE_SIZE), page, hasNext: rows.length > PAGE_SIZE };
}

export async function userNames(db: Db, ids: Iterable<number | null>): Promise<Map<number, string>> {
  const wanted = [...new Set([...ids].filter((id): id is number => id !== null))];
  if (!wanted.length) return new Map();
  const rows = await db.selectFrom("users").select(["id", "name"]).where("id", "in", wanted).execute();
  return new Map(rows.map((r) => [r.id, r.name]));
}

export async function allHosts(db: Db): Promise<HostRow[]> {
  return db.selectFrom("hosts").selectAll().orderBy("name").execute();
}

export interface Overview {
  counts: Record<string, number>;
  running: TaskRow[];
  queued: TaskRow[];
  hosts: HostRow[];
  loads: Map<number, number>;
  recentBuilds: BuildListRow[];
  failures: TaskRow[];
  failureCount: number;
}

export async function readOverview(db: Db, now: number, limit = 20): Promise<Overview> {
  const since = now - 24 * 3_600_000;
  const [countRows, running, queued, hosts, loads, recentBuilds, failures, failureCount] = await Promise.all([
    db
      .selectFrom("tasks")
      .select((eb) => ["state", eb.fn.countAll<number | string>().as("n")])
      .where("state", "in", ["free", "assigned", "open"])
      .groupBy("state")
      .execute(),
    db
      .selectFrom("tasks")
      .selectAll()
      .where("state", "in", [...activeStates])
      .orderBy("id", "desc")
      .limit(limit)
      .execute(),
    db.selectFrom("tasks").selectAll().where("state", "=", "free").orderBy("priority").orderBy("id").limit(limit).execute(),
    allHosts(db),
    hostLoads(db),
    db.selectFrom("builds").select(buildListColumns).orderBy("id", "desc").limit(limit).execute(),
    db
      .selectFrom("tasks")
      .selectAll()
      .where("state", "=", "failed")
      .where("completed_at", ">=", since)
      // in the order of tasks_by_state_completed: no sort
      .orderBy("completed_at", "desc")
      .limit(limit)
      .execute(),
    db
      .selectFrom("tasks")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .where("state", "=", "failed")
      .where("completed_at", ">=", since)
      .executeTakeFirst(),
  ]);
  const counts: Record<string, number> = { free: 0, assigned: 0, open: 0 };
  for (const row of countRows) counts[row.state] = Number(row.n);
  return { counts, running, queued, hosts, loads, recentBuilds, failures, failureCount: Number(failureCount?.n ?? 0) };
}

export interface TaskFilter {
  state?: string;
  owner?: string;
  method?: string;
  arch?: string;
  package?: string;
  top?: boolean;
}

export async function readTasks(db: Db, filter: TaskFilter, page: number): Promise<Page<TaskRow> & { unknownOwner?: boolean }> {
  let query = db.selectFrom("tasks").selectAll();
  if (filter.state) query = query.where("state", "=", filter.state);
  if (filter.method) query = query.where("method", "=", filter.method);
  if (filter.arch) query = query.where("arch", "=", filter.arch);
  if (filter.top) query = query.where("parent_id", "is", null);
  if (filter.owner) {
    const user = await db.selectFrom("users").select("id").where("name", "=", filter.owner).executeTakeFirst();
    if (!user) return { rows: [], page, hasNext: false, unknownOwner: true };
    query = query.where("owner_id", "=", user.id);
  }
  if (filter.package) {
    // builds by name (index) -> their top tasks (primary key) and the children of those (index on parent)
    const tops = (await db.selectFrom("builds").select("task_id").where("name", "=", filter.package).execute())
      .map((b) => b.task_id)
      .filter((id): id is number => id !== null);
    if (!tops.length) return { rows: [], page, hasNext: false };
    query = query.where((eb) => eb.or([eb("id", "in", tops), eb("parent_id", "in", tops)]));
  }
  return pageOf(query.orderBy("id", "desc"), page);
}

export async function readTask(db: Db, id: number): Promise<TaskRow | undefined> {
  return db.selectFrom("tasks").selectAll().where("id", "=", id).executeTakeFirst();
}

export interface TaskNode {
  task: TaskRow;
  children: TaskNode[];
}

/** The whole tree the task belongs to: up to its top task, then down level by level (index on parent). */
export async function readTaskTree(db: Db, task: TaskRow): Promise<TaskNode> {
  let top = task;
  for (let i = 0; i < 20 && top.parent_id !== null; i++) {
    const parent = await readTask(db, top.parent_id);
    if (!parent) break;
    top = parent;
  }
  const root: TaskNode = { task: top, children: [] };
  let level = [root];
  for (let depth = 0; depth < 10 && level.length; depth++) {
    const rows = await db
      .selectFrom("tasks")
      .selectAll()
      .where(
        "parent_id",
        "in",
        level.map((n) => n.task.id),
      )
      .orderBy("id")
      .limit(2000)
      .execute();
    const next: TaskNode[] = [];
    for (const row of rows) {
      const node = { task: row, children: [] };
      level.find((n) => n.task.id === row.parent_id)?.children.push(node);
      next.push(node);
    }
    level = next;
  }
  return root;
}

export async function readTaskFiles(db: Db, id: number) {
  const rows = await db
    .selectFrom("task_files")
    .select(["name", "sha256", "size", "kind"])
    .where("task_id", "=", id)
    .orderBy("name")
    .execute();
  return rows.map((r) => ({ ...r, size: Number(r.size) }));
}

export type EventRow = Selectable<EventsTable>;

/** Events of some objects of one type (index on object type and id), newest first. */
export async function readEvents(db: Db, objectType: string, ids: number[], limit = 200): Promise<EventRow[]> {
  if (!ids.length) return [];
  return db
    .selectFrom("events")
    .selectAll()
    .where("object_type", "=", objectType)
    .where("object_id", "in", ids)
    .orderBy("id", "desc")
    .limit(limit)
    .execute();
}

/** Events about a build that belong to other objects: a tag gaining or losing it (index on build_id), newest first. */
export async function readBuildEvents(db: Db, buildId: number, limit = 100): Promise<EventRow[]> {
  return db.selectFrom("events").selectAll().where("build_id", "=", buildId).orderBy("id", "desc").limit(limit).execute();
}

// ---- builds and packages

const buildListColumns = ["id", "name", "version", "state", "task_id", "owner_id", "created_at", "completed_at"] as const;
export interface BuildListRow {
  id: number;
  name: string;
  version: string;
  state: string;
  task_id: number | null;
  owner_id: number;
  created_at: number;
  completed_at: number | null;
}

export interface BuildFilter {
  state?: string;
  package?: string;
  owner?: string;
}

export async function readBuilds(db: Db, filter: BuildFilter, page: number): Promise<Page<BuildListRow>> {
  let query = db.selectFrom("builds").select(buildListColumns);
  if (filter.state) query = query.where("state", "=", filter.state);
  if (filter.package) query = query.where("name", "=", filter.package);
  if (filter.owner) {
    const user = await db.selectFrom("users").select("id").where("name", "=", filter.owner).executeTakeFirst();
    if (!user) return { rows: [], page, hasNext: false };
    query = query.where("owner_id", "=", user.id);
  }
  return pageOf(query.orderBy("id", "desc"), page);
}

/** Builds of one package, newest first (index on name). */
export async function readPackageBuilds(db: Db, name: string, limit = 500): Promise<BuildListRow[]> {
  return db.selectFrom("builds").select(buildListColumns).where("name", "=", name).orderBy("id", "desc").limit(limit).execute();
}

export interface PackageRow {
  id: number;
  name: string;
  builds: number;
  latest?: BuildListRow;
}

/** Packages by name (unique index), with their build count and latest build (index on builds' name). */
export async function readPackages(db: Db, prefix: string | undefined, page: number): Promise<Page<PackageRow>> {
  let query = db.selectFrom("packages").select(["id", "name"]);
  if (prefix) query = query.where("name", ">=", prefix).where("name", "<", `${prefix}\u{10ffff}`);
  const result = await pageOf(query.orderBy("name"), page);
  const names = result.rows.map((r) => r.name);
  if (!names.length) return { ...result, rows: [] };
  const stats = await db
    .selectFrom("builds")
    .select((eb) => ["name", eb.fn.countAll<number | string>().as("n"), eb.fn.max("id").as("latest")])
    .where("name", "in", names)
    .groupBy("name")
    .execute();
  const latestIds = stats.map((s) => Number(s.latest));
  const latest = latestIds.length ? await db.selectFrom("builds").select(buildListColumns).where("id", "in", latestIds).execute() : [];
  return {
    ...result,
    rows: result.rows.map((r) => {
      const stat = stats.find((s) => s.name === r.name);
      return { id: r.id, name: r.name, builds: Number(stat?.n ?? 0), latest: latest.find((b) => b.name === r.name) };
    }),
  };
}

export async function readBuildTasks(db: Db, topTaskId: number | null): Promise<TaskRow[]> {
  if (topTaskId === null) return [];
  return db
    .selectFrom("tasks")
    .selectAll()
    .where((eb) => eb.or([eb("id", "=", topTaskId), eb("parent_id", "=", topTaskId)]))
    .orderBy("id")
    .execute();
}

// ---- tags, targets, repositories

export interface TagSummary {
  id: number;
  name: string;
  arches: string;
  parents: string[];
  children: string[];
  repo?: { number: number; created_at: number };
  tagged: number;
}

/** Every tag with its direct parents and children, latest ready repository and number of tagged builds: four queries. */
export async function readTags(db: Db): Promise<TagSummary[]> {
  const [tags, edges, repos, counts] = await Promise.all([
    db.selectFrom("tags").select(["id", "name", "arches"]).orderBy("name").execute(),
    db.selectFrom("tag_inheritance").selectAll().orderBy("priority").execute(),
    db
      .selectFrom("repos")
      .select((eb) => ["tag_id", eb.fn.max("number").as("number"), eb.fn.max("created_at").as("created_at")])
      .where("state", "=", "ready")
      .groupBy("tag_id")
      .execute(),
    db
      .selectFrom("tagged_builds")
      .select((eb) => ["tag_id", eb.fn.countAll<number | string>().as("n")])
      .groupBy("tag_id")
      .execute(),
  ]);
  const nameOf = new Map(tags.map((t) => [t.id, t.name]));
  return tags.map((t) => {
    const repo = repos.find((r) => r.tag_id === t.id);
    return {
      id: t.id,
      name: t.name,
      arches: t.arches,
      parents: edges.filter((e) => e.tag_id === t.id).map((e) => nameOf.get(e.parent_id) ?? "?"),
      children: edges.filter((e) => e.parent_id === t.id).map((e) => nameOf.get(e.tag_id) ?? "?"),
      repo: repo ? { number: Number(repo.number), created_at: Number(repo.created_at) } : undefined,
      tagged: Number(counts.find((c) => c.tag_id === t.id)?.n ?? 0),
    };
  });
}

export interface InheritanceNode {
  name: string;
  priority: number;
  /** Already drawn higher up: not expanded again. */
  repeated: boolean;
  parents: InheritanceNode[];
}

/** The inheritance graph above a tag as a tree (each tag expanded once, in priority order, as the hub walks it). */
export async function readInheritance(db: Db, tagId: number): Promise<InheritanceNode> {
  const [tags, edges] = await Promise.all([
    db.selectFrom("tags").select(["id", "name"]).execute(),
    db.selectFrom("tag_inheritance").selectAll().orderBy("priority").orderBy("parent_id").execute(),
  ]);
  const nameOf = new Map(tags.map((t) => [t.id, t.name]));
  const seen = new Set<number>();
  const visit = (id: number, priority: number): InheritanceNode => {
    const repeated = seen.has(id);
    seen.add(id);
    return {
      name: nameOf.get(id) ?? String(id),
      priority,
      repeated,
      parents: repeated ? [] : edges.filter((e) => e.tag_id === id).map((e) => visit(e.parent_id, e.priority)),
    };
  };
  return visit(tagId, 0);
}

export interface RepoRow {
  id: number;
  tag: string;
  number: number;
  state: string;
  task_id: number | null;
  created_at: number;
}

export async function readRepos(db: Db, tag: string | undefined, page: number): Promise<Page<RepoRow>> {
  let query = db
    .selectFrom("repos")
    .innerJoin("tags", "tags.id", "repos.tag_id")
    .select(["repos.id", "tags.name as tag", "repos.number", "repos.state", "repos.task_id", "repos.created_at"]);
  if (tag) query = query.where("tags.name", "=", tag);
  return pageOf(query.orderBy("repos.id", "desc"), page);
}

/** Results of the newRepo tasks behind some repositories (packages, signed). */
export async function readRepoResults(db: Db, taskIds: number[]): Promise<Map<number, { packages?: number; signed?: boolean }>> {
  if (!taskIds.length) return new Map();
  const rows = await db.selectFrom("tasks").select(["id", "result"]).where("id", "in", taskIds).execute();
  return new Map(rows.map((r) => [r.id, r.result ? (JSON.parse(r.result) as { packages?: number; signed?: boolean }) : {}]));
}

export async function readExternalRepoUse(db: Db): Promise<Map<string, string[]>> {
  const rows = await db
    .selectFrom("tag_external_repos")
    .innerJoin("tags", "tags.id", "tag_external_repos.tag_id")
    .innerJoin("external_repos", "external_repos.id", "tag_external_repos.repo_id")
    .select(["external_repos.name as repo", "tags.name as tag"])
    .orderBy("tags.name")
    .execute();
  const use = new Map<string, string[]>();
  for (const row of rows) use.set(row.repo, [...(use.get(row.repo) ?? []), row.tag]);
  return use;
}

// ---- search

export interface SearchResult {
  packages: { name: string }[];
  builds: BuildListRow[];
  task?: TaskRow;
  build?: BuildListRow;
  tags: { name: string }[];
}

/**
 * A package name prefix (packages' unique index, as a range so both databases use it), a build as
 * NAME/VERSION or NAME_VERSION, or a task or build id.
 */
export async function search(db: Db, text: string): Promise<SearchResult> {
  const q = text.trim().slice(0, 200);
  const result: SearchResult = { packages: [], builds: [], tags: [] };
  if (!q) return result;
  if (/^[0-9]{1,12}$/.test(q)) {
    const id = Number(q);
    result.task = await readTask(db, id);
    result.build = await db.selectFrom("builds").select(buildListColumns).where("id", "=", id).executeTakeFirst();
  }
  const nv = /^([a-z0-9][a-z0-9.+-]+)[/_ ]([0-9][A-Za-z0-9.+~:-]*)$/.exec(q);
  const prefix = (nv?.[1] ?? q).toLowerCase();
  const [packages, tags] = await Promise.all([
    db
      .selectFrom("packages")
      .select("name")
      .where("name", ">=", prefix)
      .where("name", "<", `${prefix}\u{10ffff}`)
      .orderBy("name")
      .limit(50)
      .execute(),
    db.selectFrom("tags").select("name").where("name", ">=", q).where("name", "<", `${q}\u{10ffff}`).orderBy("name").limit(20).execute(),
  ]);
  result.packages = packages;
  result.tags = tags;
  // builds of the exactly named package (or of the only package matching the prefix)
  const exact = packages.find((p) => p.name === prefix) ?? (packages.length === 1 ? packages[0] : undefined);
  if (exact) {
    let query = db.selectFrom("builds").select(buildListColumns).where("name", "=", exact.name);
    if (nv?.[2]) query = query.where("version", ">=", nv[2]).where("version", "<", `${nv[2]}\u{10ffff}`);
    result.builds = await query.orderBy("id", "desc").limit(50).execute();
  }
  return result;
}

// ---- timelines over the last day

/**
 * The smallest task id created at or after `time`. Ids grow with creation time, so a binary search over
 * the primary key finds it in about log2(n) point lookups instead of a scan of the whole table.
 */
export async function firstTaskSince(db: Db, time: number): Promise<number> {
  const max = await db
    .selectFrom("tasks")
    .select((eb) => eb.fn.max("id").as("id"))
    .executeTakeFirst();
  let hi = Number(max?.id ?? 0) + 1;
  let lo = 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const row = await db.selectFrom("tasks").select(["id", "created_at"]).where("id", ">=", mid).orderBy("id").limit(1).executeTakeFirst();
    if (!row) hi = mid;
    else if (row.created_at >= time) hi = mid;
    else lo = row.id + 1;
  }
  return lo;
}

export interface Timeline {
  start: number;
  step: number;
  queued: number[];
  running: number[];
  utilisation: number[];
  capacity: number;
}

/**
 * Queue length (builder tasks created and not yet started) and builder utilisation (running weight over
 * the capacity of enabled builders) sampled over the last `spanMs`, from the tasks' own timestamps: tasks
 * created up to one span before the window (found by a primary-key search) plus every task still queued
 * or running (index on state). A task freed and claimed again counts from its latest start.
 */
export async function readTimeline(db: Db, now: number, spanMs = 24 * 3_600_000, buckets = 96): Promise<Timeline> {
  const start = now - spanMs;
  const step = spanMs / buckets;
  const fromId = await firstTaskSince(db, start - spanMs);
  const columns = ["id", "state", "weight", "created_at", "started_at", "completed_at"] as const;
  const [recent, active, hosts] = await Promise.all([
    db
      .selectFrom("tasks")
      .select(columns)
      .where("id", ">=", fromId)
      .where("method", "in", [...builderMethods])
      .execute(),
    db
      .selectFrom("tasks")
      .select(columns)
      .where("state", "in", ["free", "assigned", "open"])
      .where("id", "<", fromId)
      .where("method", "in", [...builderMethods])
      .execute(),
    db.selectFrom("hosts").select(["capacity", "enabled"]).execute(),
  ]);
  const capacity = hosts.filter((h) => h.enabled === 1).reduce((sum, h) => sum + h.capacity, 0);
  const queued = new Array<number>(buckets + 1).fill(0);
  const running = new Array<number>(buckets + 1).fill(0);
  // bucket i samples time start + i*step; a task adds to the buckets whose time falls in its interval
  const first = (t: number) => Math.max(0, Math.ceil((t - start) / step));
  const last = (t: number) => Math.min(buckets, Math.ceil((t - start) / step) - 1);
  for (const task of [...recent, ...active]) {
    const end = task.completed_at ?? Number.POSITIVE_INFINITY;
    const started = task.started_at ?? (task.state === "free" ? Number.POSITIVE_INFINITY : end);
    const queuedUntil = Math.min(started, end);
    for (let i = first(task.created_at); i <= last(queuedUntil); i++) queued[i]! += 1;
    if (started < end) for (let i = first(started); i <= last(end); i++) running[i]! += task.weight;
  }
  const utilisation = running.map((r) => (capacity > 0 ? Math.min(100, (100 * r) / capacity) : 0));
  return { start, step, queued, running, utilisation, capacity };
}
