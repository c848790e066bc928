import { join } from "node:path";
import { apiUrl } from "../../api/routes.js";
import { builderMethods, isTerminal, taskMethods, taskStates } from "../../api/tasks.js";
import { whyTask } from "../../hub/queries.js";
import { listLogs, logDir, readLogTail } from "../../hub/task-log.js";
import { composeTaskMethods } from "../../hub/tasks/methods/compose-image.js";
import { formatBytes, formatDuration, formatTime, html, path, query, raw, type SafeHtml, timeAgo } from "../html.js";
import { actionForm, buildLink, can, layout, type PageContext, pager, stateBadge, table, tagLink, taskLink } from "../layout.js";
import {
  allHosts,
  readEvents,
  readTask,
  readTaskFiles,
  readTasks,
  readTaskTree,
  type TaskFilter,
  type TaskNode,
  type TaskRow,
  userNames,
} from "../read.js";
import { intParam, strParam, taskSubject, type WebEnv } from "./common.js";

export function taskFilterFrom(q: Record<string, unknown>): TaskFilter {
  const state = strParam(q.state, 20);
  const method = strParam(q.method, 32);
  return {
    state: state && (taskStates as readonly string[]).includes(state) ? state : undefined,
    method: method && (taskMethods as readonly string[]).includes(method) ? method : undefined,
    owner: strParam(q.owner, 64),
    arch: strParam(q.arch, 32),
    package: strParam(q.package, 128),
    top: q.top === "1" || q.top === "on",
  };
}

export async function tasksPage(env: WebEnv, pc: PageContext, q: Record<string, unknown>): Promise<string> {
  const filter = taskFilterFrom(q);
  const page = intParam(q.page, 1);
  const [result, hosts] = await Promise.all([readTasks(env.db, filter, page), allHosts(env.db)]);
  const owners = await userNames(
    env.db,
    result.rows.map((t) => t.owner_id),
  );
  const hostName = new Map(hosts.map((h) => [h.id, h.name]));
  const option = (value: string, selected: string | undefined) =>
    html`<option value="${value}"${value === (selected ?? "") ? raw(" selected") : ""}>${value || "any"}</option>`;
  const form = html`<form class="filters" method="get" action="/tasks">
<label>State<select name="state">${["", ...taskStates].map((s) => option(s, filter.state))}</select></label>
<label>Method<select name="method">${["", ...taskMethods].map((m) => option(m, filter.method))}</select></label>
<label>Owner<input type="text" name="owner" value="${filter.owner ?? ""}" size="10"></label>
<label>Arch<input type="text" name="arch" value="${filter.arch ?? ""}" size="8"></label>
<label>Package<input type="text" name="package" value="${filter.package ?? ""}" size="14"></label>
<label class="check"><input type="checkbox" name="top" value="1"${filter.top ? raw(" checked") : ""}> top-level only</label>
<button type="submit">Filter</button> <a href="/tasks">Reset</a></form>`;
  const rows = result.rows.map(
    (t) =>
      html`<tr><td>${taskLink(t)}</td><td>${taskSubject(t)}</td><td>${stateBadge(t.state)}</td><td class="opt">${owners.get(t.owner_id) ?? "?"}</td><td class="opt">${
        t.host_id === null ? "" : (hostName.get(t.host_id) ?? "?")
      }</td><td>${timeAgo(t.created_at, pc.now)}</td><td class="num opt">${
        t.started_at && t.completed_at ? formatDuration(t.completed_at - t.started_at) : ""
      }</td></tr>`,
  );
  const params = {
    state: filter.state,
    method: filter.method,
    owner: filter.owner,
    arch: filter.arch,
    package: filter.package,
    top: filter.top ? "1" : undefined,
  };
  const body = html`<h1>Tasks</h1>${form}${
    result.unknownOwner ? html`<p class="flash error">No user is called ${filter.owner ?? ""}.</p>` : ""
  }${table(["Task", "What", "State", ["Owner", "opt"], ["Builder", "opt"], "Created", ["Ran", "num opt"]], rows, "No task matches.")}${pager(
    "/tasks",
    params,
    result.page,
    result.hasNext,
  )}`;
  return layout(pc, { title: "Tasks", nav: "tasks", body });
}

function renderTree(node: TaskNode, current: number): SafeHtml {
  const t = node.task;
  return html`<li${t.id === current ? raw(' class="current"') : ""}><span class="node">${taskLink(t)} ${stateBadge(t.state)} <span class="muted">${
    t.label ?? ""
  }${t.started_at && t.completed_at ? ` · ${formatDuration(t.completed_at - t.started_at)}` : ""}</span></span>${
    node.children.length ? html`<ul>${node.children.map((c) => renderTree(c, current))}</ul>` : ""
  }</li>`;
}

function eventSummary(data: string): string {
  try {
    const parsed = JSON.parse(data) as Record<string, unknown>;
    return Object.entries(parsed)
      .filter(([, v]) => v !== null && v !== undefined && typeof v !== "object")
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(" ")
      .slice(0, 300);
  } catch {
    return "";
  }
}

/** A tag event (a build added to or removed from a tag) links its tag. */
function tagOf(data: string): SafeHtml | string {
  try {
    const tag = (JSON.parse(data) as { tag?: unknown }).tag;
    return typeof tag === "string" ? html` ${tagLink(tag)}` : "";
  } catch {
    return "";
  }
}

export function eventRows(events: Awaited<ReturnType<typeof readEvents>>, users: Map<number, string>, now: number): SafeHtml[] {
  return events.map(
    (e) =>
      html`<tr><td>${timeAgo(e.time, now)}</td><td><code>${e.kind}</code>${
        e.object_type === "task" && e.object_id !== null
          ? html` <a href="${path`/tasks/${e.object_id}`}">#${e.object_id}</a>`
          : e.object_type === "tag"
            ? tagOf(e.data)
            : ""
      }</td><td>${e.user_id === null ? "hub" : (users.get(e.user_id) ?? "?")}</td><td class="opt">${eventSummary(e.data)}</td></tr>`,
  );
}

export async function taskPage(env: WebEnv, pc: PageContext, id: number): Promise<string | undefined> {
  const task = await readTask(env.db, id);
  if (!task) return undefined;
  const ctx = env;
  const [tree, files, logs, events, hosts, why] = await Promise.all([
    readTaskTree(env.db, task),
    readTaskFiles(env.db, id),
    listLogs(ctx, id),
    readEvents(env.db, "task", [id]),
    allHosts(env.db),
    whyTask(ctx, id),
  ]);
  const users = await userNames(env.db, [task.owner_id, ...events.map((e) => e.user_id)]);
  const host = task.host_id === null ? undefined : hosts.find((h) => h.id === task.host_id);
  const build =
    task.build_id === null
      ? undefined
      : await env.db.selectFrom("builds").select(["id", "name", "version"]).where("id", "=", task.build_id).executeTakeFirst();
  const tag =
    task.tag_id === null ? undefined : await env.db.selectFrom("tags").select("name").where("id", "=", task.tag_id).executeTakeFirst();

  const isOwner = pc.principal?.userId === task.owner_id || pc.principal?.perms.has("admin") === true;
  const actions: SafeHtml[] = [];
  if (!isTerminal(task.state) && can(pc, "build") && isOwner)
    actions.push(
      actionForm(pc, path`/tasks/${id}/cancel`, "Cancel task", { danger: true, confirm: `Cancel task ${id} and its subtasks?` }),
    );
  if (task.parent_id === null && (task.state === "failed" || task.state === "canceled") && can(pc, "build") && isOwner)
    actions.push(actionForm(pc, path`/tasks/${id}/resubmit`, "Resubmit"));
  const actionBlock = actions.length
    ? html`<div class="actions">${actions}</div>`
    : !pc.principal && !isTerminal(task.state)
      ? html`<p class="muted"><a href="${`/login${query({ next: pc.url })}`}">Log in</a> to cancel this task.</p>`
      : "";

  const facts = html`<dl class="facts">
<dt>State</dt><dd>${
    isTerminal(task.state)
      ? stateBadge(task.state)
      : html`<span class="state state-${task.state}" id="task-state" data-watch-task="${id}">${task.state}</span>`
  } <span id="task-changed" hidden>· changed, <a href="${path`/tasks/${id}`}">reload</a></span></dd>
<dt>Method</dt><dd>${task.method}${task.label ? html` <span class="muted">(${task.label})</span>` : ""}</dd>
<dt>What</dt><dd>${taskSubject(task)}</dd>
${task.arch ? html`<dt>Architecture</dt><dd>${task.arch}</dd>` : ""}
<dt>Owner</dt><dd><a href="${`/tasks${query({ owner: users.get(task.owner_id) })}`}">${users.get(task.owner_id) ?? "?"}</a></dd>
<dt>Builder</dt><dd>${host ? html`<a href="${path`/hosts#host-${host.name}`}">${host.name}</a>` : (builderMethods as readonly string[]).includes(task.method) ? "–" : "the hub"}</dd>
${build ? html`<dt>Build</dt><dd>${buildLink(build)}</dd>` : ""}
${tag ? html`<dt>Tag</dt><dd>${tagLink(tag.name)}</dd>` : ""}
${task.parent_id !== null ? html`<dt>Parent</dt><dd><a href="${path`/tasks/${task.parent_id}`}">#${task.parent_id}</a></dd>` : ""}
<dt>Priority</dt><dd>${task.priority}</dd>
<dt>Attempts</dt><dd>${task.attempts}${task.attempts ? " (freed and run again)" : ""}</dd>
<dt>Created</dt><dd>${formatTime(task.created_at)}</dd>
<dt>Started</dt><dd>${formatTime(task.started_at)}${task.started_at ? html` <span class="muted">after ${formatDuration(task.started_at - task.created_at)} in the queue</span>` : ""}</dd>
<dt>Finished</dt><dd>${formatTime(task.completed_at)}${
    task.completed_at && task.started_at ? html` <span class="muted">ran ${formatDuration(task.completed_at - task.started_at)}</span>` : ""
  }</dd>
${task.lease_expires && !isTerminal(task.state) ? html`<dt>Lease</dt><dd>ends ${formatTime(task.lease_expires)}</dd>` : ""}
${task.error_code ? html`<dt>Error</dt><dd><code>${task.error_code}</code> ${task.error_message ?? ""}</dd>` : ""}
</dl>`;

  const details = (why.details ?? {}) as { buildLogTail?: string; failure?: Record<string, unknown> };
  const whyBlock = html`<div class="why${why.state === "failed" ? " failed" : ""}"><strong>Why:</strong> ${why.reason}${
    details.failure ? html`<pre class="log">${JSON.stringify(details.failure, null, 2)}</pre>` : ""
  }${details.buildLogTail && task.state === "failed" ? html`<details><summary>Tail of build.log</summary><pre class="log">${details.buildLogTail}</pre></details>` : ""}</div>`;

  const logRows = logs.map(
    (l) =>
      html`<tr><td><a href="${path`/tasks/${id}/logs/${l.name}`}">${l.name}</a></td><td class="num">${formatBytes(l.size)}</td><td><a href="${apiUrl("readTaskLog", { id, name: l.name })}">raw</a></td></tr>`,
  );
  const fileRows = files.map(
    (f) =>
      html`<tr><td><a href="${apiUrl("downloadTaskFile", { id, name: f.name })}" download="${f.name}">${f.name}</a></td><td>${f.kind}</td><td class="num">${formatBytes(f.size)}</td><td class="hash">${f.sha256}</td></tr>`,
  );

  // the live log of a builder task: rendered tail, then followed over server-sent events
  let live: SafeHtml | string = "";
  const liveName = liveLogName(task.method);
  if ((builderMethods as readonly string[]).includes(task.method) && (logs.some((l) => l.name === liveName) || !isTerminal(task.state))) {
    live = await liveLog(env, id, liveName, task.state);
  }

  const body = html`<h1>${task.method}${task.arch ? ` (${task.arch})` : ""} #${id}</h1>
${actionBlock}${whyBlock}
<div class="grid2"><section><h2>Details</h2>${facts}</section>
<section><h2>Task tree</h2><ul class="tree">${renderTree(tree, id)}</ul></section></div>
${live}
<section><h2>Logs</h2>${table(["Log", ["Size", "num"], "Download"], logRows, "No logs.")}</section>
<section><h2>Result files</h2>${table(["File", "Kind", ["Size", "num"], "SHA-256"], fileRows, "No result files.")}</section>
<section><h2>History</h2>${table(["When", "Event", "By", ["Details", "opt"]], eventRows(events, users, pc.now), "No events.")}</section>`;
  return layout(pc, { title: `Task ${id}`, nav: "tasks", body });
}

/** The log a builder streams a task's output to as it runs: an image task's command writes image.log, a build build.log. */
export function liveLogName(method: string): string {
  return (composeTaskMethods as readonly string[]).includes(method) ? "image.log" : "build.log";
}

async function liveLog(env: WebEnv, id: number, name: string, state: string): Promise<SafeHtml> {
  const tail = (await readLogTail(join(logDir(env, id), name), 64 * 1024, { wholeLines: true })) ?? { text: "", start: 0, end: 0 };
  const lines = (tail.text.match(/\n/g) ?? []).length;
  const status = isTerminal(state) ? `The task is ${state}; the log is complete.` : "Waiting for the log…";
  const follow = isTerminal(state) ? "" : html` data-stream="${path`/tasks/${id}/logs/${name}/events`}"`;
  return html`<section><h2>${name}${tail.start > 0 ? html` <span class="muted">(last ${formatBytes(tail.end - tail.start)})</span>` : ""}</h2><p id="log-status" class="status-line" role="status" aria-live="polite">${status}</p><pre class="log" id="log" tabindex="0" data-offset="${tail.end}" data-lines="${lines}"${follow}>${tail.text}</pre></section>`;
}

export async function taskLogPage(env: WebEnv, pc: PageContext, id: number, name: string): Promise<string | undefined> {
  const task: TaskRow | undefined = await readTask(env.db, id);
  if (!task) return undefined;
  const body = html`<h1>${name} of ${taskLink(task)} ${stateBadge(task.state)}</h1><p><a href="${apiUrl("readTaskLog", { id, name })}">Raw log</a> · <a href="${path`/tasks/${id}`}">Task</a></p>${await liveLog(
    env,
    id,
    name,
    task.state,
  )}`;
  return layout(pc, { title: `${name} of task ${id}`, nav: "tasks", body });
}
