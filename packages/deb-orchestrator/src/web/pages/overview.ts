import { listComposes } from "../../hub/catalog/compose-views.js";
import { isOnline } from "../../hub/hosts.js";
import { formatDuration, html, path, timeAgo } from "../html.js";
import { buildLink, layout, meter, type PageContext, stateBadge, table, taskLink } from "../layout.js";
import { timelinePlot } from "../plots.js";
import { readOverview, readTimeline, userNames } from "../read.js";
import { taskSubject, type WebEnv } from "./common.js";
import { composeRow } from "./composes.js";

export async function overviewPage(env: WebEnv, pc: PageContext): Promise<string> {
  const now = pc.now;
  const [data, timeline, composes] = await Promise.all([
    readOverview(env.db, now),
    readTimeline(env.db, now),
    listComposes(env.db, { limit: 8 }),
  ]);
  const owners = await userNames(env.db, [...data.recentBuilds.map((b) => b.owner_id), ...data.failures.map((t) => t.owner_id)]);
  const hostName = new Map(data.hosts.map((h) => [h.id, h.name]));
  const online = data.hosts.filter((h) => h.enabled === 1 && isOnline(env, h.last_checkin, now));
  const capacity = online.reduce((sum, h) => sum + h.capacity, 0);
  const busy = online.reduce((sum, h) => sum + (data.loads.get(h.id) ?? 0), 0);

  const cards = html`<div class="cards">
<div class="card"><a href="/tasks?state=open"><span class="n">${data.counts.open ?? 0}</span>running</a></div>
<div class="card"><a href="/tasks?state=assigned"><span class="n">${data.counts.assigned ?? 0}</span>assigned</a></div>
<div class="card"><a href="/tasks?state=free"><span class="n">${data.counts.free ?? 0}</span>queued</a></div>
<div class="card"><a href="/tasks?state=dep-wait"><span class="n">${data.counts["dep-wait"] ?? 0}</span>waiting for build-dependencies</a></div>
<div class="card"><a href="/hosts"><span class="n">${online.length}/${data.hosts.length}</span>builders online</a></div>
<div class="card"><a href="/hosts"><span class="n">${busy}/${capacity}</span>slots busy</a></div>
<div class="card"><a href="/tasks?state=failed"><span class="n">${data.failureCount}</span>failures (24 h)</a></div>
</div>`;

  const taskRows = (tasks: typeof data.running, showHost: boolean) =>
    tasks.map(
      (t) =>
        html`<tr><td>${taskLink(t)}</td><td>${taskSubject(t)}</td><td>${stateBadge(t.state)}</td>${
          showHost
            ? html`<td>${t.host_id === null ? html`<span class="muted">hub</span>` : (hostName.get(t.host_id) ?? "?")}</td>`
            : html`<td class="num">${t.priority}</td>`
        }<td class="opt">${timeAgo(showHost ? (t.started_at ?? t.created_at) : t.created_at, now)}</td></tr>`,
    );

  const hostRows = data.hosts.map((h) => {
    const load = data.loads.get(h.id) ?? 0;
    const up = isOnline(env, h.last_checkin, now);
    return html`<tr><td><a href="${path`/hosts#host-${h.name}`}">${h.name}</a></td><td>${
      h.enabled
        ? up
          ? html`<span class="dot-online">● online</span>`
          : html`<span class="dot-offline">● offline</span>`
        : html`<span class="muted">disabled</span>`
    }</td><td>${meter(load, h.capacity, `${load} of ${h.capacity} slots`)} <span class="muted">${load}/${h.capacity}</span></td><td>${timeAgo(h.last_checkin, now)}</td></tr>`;
  });

  const buildRows = data.recentBuilds.map(
    (b) =>
      html`<tr><td>${buildLink(b)}</td><td>${stateBadge(b.state)}</td><td class="opt">${owners.get(b.owner_id) ?? "?"}</td><td>${timeAgo(b.completed_at ?? b.created_at, now)}</td><td class="num opt">${
        b.completed_at ? formatDuration(b.completed_at - b.created_at) : ""
      }</td></tr>`,
  );
  const failureRows = data.failures.map(
    (t) =>
      html`<tr><td>${taskLink(t)}</td><td>${taskSubject(t)}</td><td><code>${t.error_code ?? ""}</code> ${(t.error_message ?? "").slice(0, 160)}</td><td class="opt">${timeAgo(t.completed_at, now)}</td></tr>`,
  );

  const queuePlot = timelinePlot("Builder tasks waiting in the queue, last 24 hours (UTC)", timeline.start, timeline.step, [
    { label: "queued tasks", cls: "series-queue", values: timeline.queued },
  ]);
  const utilisationPlot = timelinePlot(
    "Builder utilisation, last 24 hours (UTC)",
    timeline.start,
    timeline.step,
    [{ label: "busy slots, % of capacity", cls: "series-util", values: timeline.utilisation }],
    { percent: true },
  );

  const body = html`<h1>Overview</h1>${cards}
<div class="grid2">
<section><h2>Running tasks</h2>${table(["Task", "What", "State", "Builder", ["Since", "opt"]], taskRows(data.running, true), "No task is running.")}</section>
<section><h2>Queued tasks</h2>${table(["Task", "What", "State", ["Priority", "num"], ["Queued", "opt"]], taskRows(data.queued, false), "The queue is empty.")}</section>
<section><h2>Builders</h2>${table(["Host", "Status", "Load", "Last check-in"], hostRows, "No builder has checked in yet.")}</section>
<section><h2>Recent builds</h2>${table(["Build", "State", ["Owner", "opt"], "When", ["Took", "num opt"]], buildRows, "No builds yet.")}<p><a href="/builds">All builds →</a></p></section>
</div>
<section><h2>Recent composes</h2>${table(
    ["Compose", "Status", ["Definition", "opt"], ["Owner", "opt"], "Started", ["Took", "num opt"]],
    composes.map(composeRow(now)),
    "No compose has been recorded yet.",
  )}<p><a href="/composes">All composes →</a></p></section>
<section><h2>Failures of the last 24 hours</h2>${table(["Task", "What", "Error", ["When", "opt"]], failureRows, "No failures in the last day.")}</section>
<section><h2>Load</h2><div class="grid2">${queuePlot}${utilisationPlot}</div><p class="muted">Capacity now: ${timeline.capacity} slot(s) on enabled builders.</p></section>`;
  return layout(pc, { title: "Overview", nav: "overview", body });
}
