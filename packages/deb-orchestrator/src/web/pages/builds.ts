import { apiUrl } from "../../api/routes.js";
import { rebuildOf } from "../../hub/auto-rebuild.js";
import { describeBuild } from "../../hub/catalog/builds.js";
import { whyTask } from "../../hub/queries.js";
import { listLogs } from "../../hub/task-log.js";
import { formatBytes, formatDuration, formatTime, html, path, query, raw, type SafeHtml, timeAgo } from "../html.js";
import {
  actionForm,
  buildLink,
  can,
  layout,
  type PageContext,
  packageLink,
  pager,
  stateBadge,
  table,
  tagLink,
  taskLink,
} from "../layout.js";
import { durationPlot } from "../plots.js";
import {
  type BuildFilter,
  buildStates,
  readBuildEvents,
  readBuilds,
  readBuildTasks,
  readEvents,
  readPackageBuilds,
  readPackages,
  userNames,
} from "../read.js";
import { intParam, strParam, type WebEnv } from "./common.js";
import { eventRows } from "./tasks.js";

export function buildFilterFrom(q: Record<string, unknown>): BuildFilter {
  const state = strParam(q.state, 20);
  return {
    state: state && (buildStates as readonly string[]).includes(state) ? state : undefined,
    package: strParam(q.package, 128),
    owner: strParam(q.owner, 64),
  };
}

export async function buildsPage(env: WebEnv, pc: PageContext, q: Record<string, unknown>): Promise<string> {
  const filter = buildFilterFrom(q);
  const page = intParam(q.page, 1);
  const result = await readBuilds(env.db, filter, page);
  const owners = await userNames(
    env.db,
    result.rows.map((b) => b.owner_id),
  );
  const option = (value: string) =>
    html`<option value="${value}"${value === (filter.state ?? "") ? raw(" selected") : ""}>${value || "any"}</option>`;
  const form = html`<form class="filters" method="get" action="/builds">
<label>State<select name="state">${["", ...buildStates].map(option)}</select></label>
<label>Package<input type="text" name="package" value="${filter.package ?? ""}" size="14"></label>
<label>Owner<input type="text" name="owner" value="${filter.owner ?? ""}" size="10"></label>
<button type="submit">Filter</button> <a href="/builds">Reset</a></form>`;
  const rows = result.rows.map(
    (b) =>
      html`<tr><td class="num">${b.id}</td><td>${buildLink(b)}</td><td>${stateBadge(b.state)}</td><td class="opt">${owners.get(b.owner_id) ?? "?"}</td><td>${timeAgo(
        b.created_at,
        pc.now,
      )}</td><td class="num opt">${b.completed_at ? formatDuration(b.completed_at - b.created_at) : ""}</td><td class="opt">${
        b.task_id === null ? "" : html`<a href="${path`/tasks/${b.task_id}`}">#${b.task_id}</a>`
      }</td></tr>`,
  );
  const body = html`<h1>Builds</h1>${form}${table(
    [["Id", "num"], "Build", "State", ["Owner", "opt"], "Started", ["Took", "num opt"], ["Task", "opt"]],
    rows,
    "No build matches.",
  )}${pager("/builds", { state: filter.state, package: filter.package, owner: filter.owner }, result.page, result.hasNext)}`;
  return layout(pc, { title: "Builds", nav: "builds", body });
}

interface SourceInfo {
  dsc?: string;
  files?: { name: string; sha256: string; size: number }[];
}

export async function buildPage(env: WebEnv, pc: PageContext, id: number): Promise<string | undefined> {
  const exists = await env.db.selectFrom("builds").select(["id", "owner_id"]).where("id", "=", id).executeTakeFirst();
  if (!exists) return undefined;
  const build = await describeBuild(env.db, String(id));
  const tasks = await readBuildTasks(env.db, build.task);
  const [buildEvents, tagEvents, taskEvents, allTags, logs] = await Promise.all([
    readEvents(env.db, "build", [id], 100),
    readBuildEvents(env.db, id, 100),
    readEvents(
      env.db,
      "task",
      tasks.map((t) => t.id),
      200,
    ),
    env.db.selectFrom("tags").select("name").orderBy("name").execute(),
    Promise.all(tasks.map(async (t) => ({ task: t, logs: await listLogs(env, t.id) }))),
  ]);
  const events = [...buildEvents, ...tagEvents, ...taskEvents].sort((a, b) => b.id - a.id).slice(0, 200);
  // a build not (yet) complete says why in one line: waiting for a builder, for a build-dependency, failed
  const why = build.task !== null && build.state !== "complete" ? await whyTask(env, build.task) : undefined;
  const users = await userNames(env.db, [exists.owner_id, ...events.map((e) => e.user_id)]);
  const source = (build.source ?? {}) as SourceInfo;
  const rebuild = await rebuildOf(env.db, id);

  const facts = html`<dl class="facts">
<dt>Package</dt><dd>${packageLink(build.name)}</dd>
<dt>Version</dt><dd>${build.version}</dd>
<dt>State</dt><dd>${stateBadge(build.state)}</dd>
<dt>Owner</dt><dd>${users.get(exists.owner_id) ?? "?"}</dd>
<dt>Task</dt><dd>${build.task === null ? "–" : html`<a href="${path`/tasks/${build.task}`}">#${build.task}</a>`}</dd>
<dt>Started</dt><dd>${formatTime(build.createdAt)}</dd>
<dt>Finished</dt><dd>${formatTime(build.completedAt)}${build.completedAt ? html` <span class="muted">took ${formatDuration(build.completedAt - build.createdAt)}</span>` : ""}</dd>
<dt>Tags</dt><dd>${build.tags.length ? build.tags.map((t, i) => html`${i ? ", " : ""}${tagLink(t)}`) : html`<span class="muted">none</span>`}</dd>
${rebuild ? html`<dt>Rebuild</dt><dd>automatic, in ${tagLink(rebuild.tag)}: ${rebuild.reason}</dd>` : ""}
</dl>`;

  const tagActions: SafeHtml[] = [];
  if (can(pc, "tag") && build.state === "complete") {
    for (const tag of build.tags)
      tagActions.push(
        actionForm(pc, path`/builds/${id}/untag`, `Untag from ${tag}`, {
          fields: { tag },
          danger: true,
          confirm: `Remove this build from ${tag}?`,
        }),
      );
    const candidates = allTags.map((t) => t.name).filter((t) => !build.tags.includes(t));
    if (candidates.length)
      tagActions.push(
        actionForm(pc, path`/builds/${id}/tag`, "Tag", {
          extra: html`<label for="tag-into">Tag into</label> <select id="tag-into" name="tag">${candidates.map((t) => html`<option>${t}</option>`)}</select>`,
        }),
      );
  }

  const binaryRows = build.binaries.map(
    (b) =>
      html`<tr><td><a href="${apiUrl("downloadArtifact", { sha256: b.sha256 })}" download="${b.filename}">${b.filename}</a></td><td class="opt">${b.name}</td><td>${b.arch}</td><td class="num">${formatBytes(
        b.size,
      )}</td><td class="hash">${b.sha256}</td></tr>`,
  );
  const sourceRows = (source.files ?? []).map(
    (f) =>
      html`<tr><td><a href="${apiUrl("downloadArtifact", { sha256: f.sha256 })}" download="${f.name}">${f.name}</a></td><td class="num">${formatBytes(f.size)}</td><td class="hash">${f.sha256}</td></tr>`,
  );
  const roots = build.buildroots.map(
    (root) =>
      html`<details><summary>${root.arch}: ${root.installed.length} packages (task <a href="${path`/tasks/${root.task}`}">#${root.task}</a>)</summary>${table(
        ["Package", "Version", "Arch"],
        root.installed.map((p) => html`<tr><td>${p.name}</td><td>${p.version}</td><td>${p.arch}</td></tr>`),
      )}</details>`,
  );
  const logRows = logs.flatMap(({ task, logs: list }) =>
    list.map(
      (l) =>
        html`<tr><td>${taskLink(task)}</td><td><a href="${path`/tasks/${task.id}/logs/${l.name}`}">${l.name}</a></td><td class="num">${formatBytes(l.size)}</td></tr>`,
    ),
  );
  const body = html`<h1>${build.name} ${build.version} ${stateBadge(build.state)}</h1>
${why ? html`<div class="why${why.state === "failed" ? " failed" : ""}"><strong>Why:</strong> ${why.reason}</div>` : ""}
<div class="grid2"><section><h2>Build</h2>${facts}${tagActions.length ? html`<div class="actions">${tagActions}</div>` : ""}</section>
<section><h2>Source</h2>${table(["File", ["Size", "num"], "SHA-256"], sourceRows, "No source files recorded.")}</section></div>
<section><h2>Binaries</h2>${table(["File", ["Package", "opt"], "Arch", ["Size", "num"], "SHA-256"], binaryRows, "No binaries (yet).")}</section>
<section><h2>Logs</h2>${table(["Task", "Log", ["Size", "num"]], logRows, "No logs.")}</section>
<section><h2>Buildroots</h2>${roots.length ? roots : html`<p class="muted">No buildroot recorded.</p>`}</section>
<section><h2>History</h2>${table(["When", "Event", "By", ["Details", "opt"]], eventRows(events, users, pc.now), "No events.")}</section>`;
  return layout(pc, { title: `${build.name} ${build.version}`, nav: "builds", body });
}

export async function packagesPage(env: WebEnv, pc: PageContext, q: Record<string, unknown>): Promise<string> {
  const prefix = strParam(q.prefix, 128)?.toLowerCase();
  const page = intParam(q.page, 1);
  const result = await readPackages(env.db, prefix, page);
  const rows = result.rows.map(
    (p) =>
      html`<tr><td>${packageLink(p.name)}</td><td class="num">${p.builds}</td><td>${p.latest ? html`${buildLink(p.latest)} ${stateBadge(p.latest.state)}` : ""}</td><td class="opt">${
        p.latest ? timeAgo(p.latest.created_at, pc.now) : ""
      }</td></tr>`,
  );
  const body = html`<h1>Packages</h1><form class="filters" method="get" action="/packages"><label>Name starts with<input type="text" name="prefix" value="${prefix ?? ""}" size="16"></label><button type="submit">Show</button></form>${table(
    ["Package", ["Builds", "num"], "Latest build", ["When", "opt"]],
    rows,
    "No package matches.",
  )}${pager("/packages", { prefix }, result.page, result.hasNext)}`;
  return layout(pc, { title: "Packages", nav: "packages", body });
}

export async function packagePage(env: WebEnv, pc: PageContext, name: string): Promise<string | undefined> {
  const pkg = await env.db.selectFrom("packages").select(["id", "name", "created_at"]).where("name", "=", name).executeTakeFirst();
  if (!pkg) return undefined;
  const builds = await readPackageBuilds(env.db, name);
  const ids = builds.map((b) => b.id);
  const [tagged, owners] = await Promise.all([
    ids.length
      ? env.db
          .selectFrom("tagged_builds")
          .innerJoin("tags", "tags.id", "tagged_builds.tag_id")
          .select(["tagged_builds.build_id", "tags.name"])
          .where("tagged_builds.build_id", "in", ids.slice(0, 100))
          .execute()
      : Promise.resolve([]),
    userNames(
      env.db,
      builds.map((b) => b.owner_id),
    ),
  ]);
  const points = builds
    .filter((b) => b.completed_at !== null && (b.state === "complete" || b.state === "failed"))
    .slice(0, 300)
    .map((b) => ({
      time: b.completed_at!,
      durationMs: b.completed_at! - b.created_at,
      state: b.state,
      label: `${b.name} ${b.version}`,
      href: path`/builds/${b.id}`,
    }));
  const rows = builds
    .slice(0, 100)
    .map(
      (b) =>
        html`<tr><td>${buildLink(b)}</td><td>${stateBadge(b.state)}</td><td>${tagged
          .filter((t) => t.build_id === b.id)
          .map((t, i) => html`${i ? ", " : ""}${tagLink(t.name)}`)}</td><td class="opt">${owners.get(b.owner_id) ?? "?"}</td><td>${timeAgo(
          b.created_at,
          pc.now,
        )}</td><td class="num opt">${b.completed_at ? formatDuration(b.completed_at - b.created_at) : ""}</td></tr>`,
    );
  const body = html`<h1>Package ${pkg.name}</h1><p class="muted">First seen ${formatTime(pkg.created_at)} · ${builds.length}${
    builds.length === 500 ? "+" : ""
  } build(s) · <a href="${`/tasks${query({ package: name })}`}">tasks</a></p>
<section><h2>Build durations</h2>${durationPlot(`Build durations of ${name} (UTC)`, points)}</section>
<section><h2>Builds</h2>${table(["Build", "State", "Tags", ["Owner", "opt"], "Started", ["Took", "num opt"]], rows, "No builds.")}${
    builds.length > 100 ? html`<p><a href="${`/builds${query({ package: name })}`}">All builds of ${name} →</a></p>` : ""
  }</section>`;
  return layout(pc, { title: `Package ${name}`, nav: "packages", body });
}
