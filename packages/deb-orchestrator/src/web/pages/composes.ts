import { isCodedError } from "@debian-bootc/core";
import { type ComposePhase, type ComposePublished, type ComposeView, composeStatuses } from "../../api/composes.js";
import { apiUrl } from "../../api/routes.js";
import { composePhaseLog, describeCompose, listComposes } from "../../hub/catalog/compose-views.js";
import { lastEventId } from "../../hub/events.js";
import { composeImageTasks } from "../../hub/tasks/methods/compose-image.js";
import { externalLink, formatBytes, formatDuration, formatTime, html, path, query, raw, type SafeHtml, timeAgo } from "../html.js";
import { layout, type PageContext, pager, stateBadge, table } from "../layout.js";
import { readEvents, userNames } from "../read.js";
import { strParam, type WebEnv } from "./common.js";
import { eventRows, liveLogName } from "./tasks.js";

const IMAGE_LOG = liveLogName("composeImage");

/* Composes as deb-bootc-compose recorded them: the list, and a compose's page (its phases as a timeline
 * that follows the compose while it runs, their logs, the image tasks builders run for it with their live
 * logs, images, packages with their builds, the package diff against the previous compose, the SBOM, and
 * where it was published). */

const PAGE = 50;

/** A compose's or a phase's status as a badge (FINISHED_INCOMPLETE -> state-finished-incomplete). */
export function composeBadge(status: string, attributes: SafeHtml | string = ""): SafeHtml {
  const cls = status
    .toLowerCase()
    .replace(/_/g, "-")
    .replace(/[^a-z-]/g, "");
  return html`<span class="state state-${cls}"${attributes}>${status}</span>`;
}

export function composeLink(id: string): SafeHtml {
  return html`<a href="${path`/composes/${id}`}">${id}</a>`;
}

function ended(status: string): boolean {
  return status !== "STARTED";
}

export async function composesPage(env: WebEnv, pc: PageContext, q: Record<string, unknown>): Promise<string> {
  const status = strParam(q.status, 32);
  const filter = {
    name: strParam(q.name, 128),
    status: status && (composeStatuses as readonly string[]).includes(status) ? status : undefined,
  };
  const page = Math.min(Math.max(Number(strParam(q.page, 6) ?? 1) || 1, 1), 10_000);
  // one more than a page tells whether there is a next one
  const rows = await listComposes(env.db, { ...filter, limit: PAGE + 1, offset: (page - 1) * PAGE });
  const hasNext = rows.length > PAGE;
  const option = (value: string) =>
    html`<option value="${value}"${value === (filter.status ?? "") ? raw(" selected") : ""}>${value || "any"}</option>`;
  const form = html`<form class="filters" method="get" action="/composes">
<label>Definition<input type="text" name="name" value="${filter.name ?? ""}" size="20"></label>
<label>Status<select name="status">${["", ...composeStatuses].map(option)}</select></label>
<button type="submit">Filter</button> <a href="/composes">Reset</a></form>`;
  const body = html`<h1>Composes</h1>${form}${table(
    ["Compose", "Status", ["Definition", "opt"], ["Owner", "opt"], "Started", ["Took", "num opt"]],
    rows.slice(0, PAGE).map(composeRow(pc.now)),
    "No compose matches.",
  )}${pager("/composes", { name: filter.name, status: filter.status }, page, hasNext)}`;
  return layout(pc, { title: "Composes", nav: "composes", body });
}

export function composeRow(now: number) {
  return (c: Awaited<ReturnType<typeof listComposes>>[number]) =>
    html`<tr><td>${composeLink(c.id)}</td><td>${composeBadge(c.status)}</td><td class="opt"><a href="${`/composes${query({ name: c.name })}`}">${c.name}</a></td><td class="opt">${c.owner}</td><td>${timeAgo(c.startedAt, now)}</td><td class="num opt">${
      c.completedAt ? formatDuration(c.completedAt - c.startedAt) : ""
    }</td></tr>`;
}

/**
 * Where a phase ran within the compose's time, as a bar (SVG: style attributes are not allowed by the CSP).
 * web.js's timelineBar draws the same from the compose's events: keep the two alike.
 */
function phaseBar(phase: ComposePhase, start: number, end: number): SafeHtml | string {
  if (phase.startedAt === null) return "";
  const total = Math.max(end - start, 1);
  const x = Math.max(0, Math.min(100, ((phase.startedAt - start) / total) * 100));
  const width = Math.max(0.5, Math.min(100 - x, (((phase.completedAt ?? end) - phase.startedAt) / total) * 100));
  const cls = phase.status.replace(/[^a-z-]/g, "");
  return html`<span class="timeline" role="img" aria-label="${`${phase.name}: ${formatDuration((phase.completedAt ?? end) - phase.startedAt)}`}"><svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true"><rect class="bar state-${cls}" x="${x.toFixed(2)}" width="${width.toFixed(2)}" height="10"/></svg></span>`;
}

interface SetDiff {
  added?: Array<{ name: string; arch: string; version: string }>;
  removed?: Array<{ name: string; arch: string; version: string }>;
  upgraded?: Array<{ name: string; arch: string; from: string; to: string }>;
  downgraded?: Array<{ name: string; arch: string; from: string; to: string }>;
  changed?: Array<{ name: string; arch: string; from: string; to: string }>;
}

/** The package diff as deb-bootc-compose wrote it (package-diff.json): one table per variant and arch. */
function diffSection(diff: unknown): SafeHtml {
  const doc = diff as { from?: unknown; sets?: Record<string, Record<string, SetDiff>>; summary?: Record<string, unknown> } | null;
  if (!doc || typeof doc !== "object" || typeof doc.sets !== "object" || doc.sets === null)
    return html`<p class="muted">No package diff: this is the first compose of its definition here, or it did not get that far.</p>`;
  const summary = Object.entries(doc.summary ?? {})
    .map(([k, v]) => `${String(v)} ${k}`)
    .join(", ");
  const list = <T>(items: T[] | undefined) => (Array.isArray(items) ? items : []);
  const sets = Object.entries(doc.sets).flatMap(([variant, byArch]) =>
    Object.entries(byArch ?? {}).map(([arch, set]) => {
      const rows = [
        ...list(set.added).map((p) => html`<tr><td>added</td><td>${p.name}</td><td>${p.arch}</td><td></td><td>${p.version}</td></tr>`),
        ...list(set.removed).map((p) => html`<tr><td>removed</td><td>${p.name}</td><td>${p.arch}</td><td>${p.version}</td><td></td></tr>`),
        ...(["upgraded", "downgraded", "changed"] as const).flatMap((kind) =>
          list(set[kind]).map((p) => html`<tr><td>${kind}</td><td>${p.name}</td><td>${p.arch}</td><td>${p.from}</td><td>${p.to}</td></tr>`),
        ),
      ];
      return html`<h3>${variant}/${arch}</h3>${table(["Change", "Package", "Arch", "Before", "Now"], rows, "No change.")}`;
    }),
  );
  return html`<p>Against ${typeof doc.from === "string" ? composeLink(doc.from) : "the previous compose"}: ${summary || "no change"}.</p>${sets}`;
}

/** The update channel the publish phase put the compose on: per variant/arch its ref and commit. */
function publishedSection(published: ComposePublished | null, running: boolean): SafeHtml {
  if (!published)
    return html`<p class="muted">${running ? "Not published yet." : "Not published: the definition names no update channel to publish on (updates.publishTo), or the compose did not get that far."}</p>`;
  const channel = published.url === null ? html`<span class="muted">a channel with no http(s) URL</span>` : externalLink(published.url);
  const rows = published.commits.map(
    (c) =>
      html`<tr><td>${c.variant}/${c.arch}</td><td>${channel}</td><td><code>${c.ref}</code></td><td class="hash"><span title="${c.commit}">${c.commit.slice(0, 12)}</span></td><td>${[
        c.delta ? "static delta" : "",
        c.changed ? "" : "already published",
      ]
        .filter(Boolean)
        .join(", ")}</td></tr>`,
  );
  return table(["Variant", "Channel", "Ref", "Commit", "Notes"], rows);
}

/** What a compose's builder task makes, as its row names it (web.js gets this function's source: web-ui.ts). */
export function imageTaskLabel(method: string, variant: string, arch: string): string {
  // a switch, not an object lookup: a method named like an Object.prototype member must not find it
  switch (method) {
    case "updateTest":
      return `${variant}/${arch} update test`;
    case "diskImage":
      return `${variant}/${arch} disk images`;
    default:
      return `${variant}/${arch}`;
  }
}

/** An image task's row; web.js adds the same for a task queued while the page is open. */
function imageTaskRow(t: Awaited<ReturnType<typeof composeImageTasks>>[number]): SafeHtml {
  return html`<tr id="${`image-task-${t.id}`}"><td>${imageTaskLabel(t.method, t.variant, t.arch)}</td><td><a href="${path`/tasks/${t.id}`}">#${t.id}</a></td><td>${stateBadge(
    t.state,
  )}</td><td class="host">${t.host ?? ""}</td><td><a href="${path`/tasks/${t.id}/logs/${IMAGE_LOG}`}">${IMAGE_LOG}</a></td></tr>`;
}

export async function composePage(env: WebEnv, pc: PageContext, id: string): Promise<string | undefined> {
  // read first: the page's event streams start after it, so nothing between this read and their start is lost
  const after = await lastEventId(env.db);
  let compose: ComposeView;
  try {
    compose = await describeCompose(env.db, id);
  } catch (error) {
    if (isCodedError(error, "NOT_FOUND")) return undefined;
    throw error;
  }
  const row = await env.db.selectFrom("composes").select(["id", "owner_id"]).where("compose_id", "=", id).executeTakeFirstOrThrow();
  const events = await readEvents(env.db, "compose", [row.id]);
  const users = await userNames(env.db, [row.owner_id, ...events.map((e) => e.user_id)]);
  const running = !ended(compose.status);
  // the timeline spans the phases' times too (init starts before the hub hears of the compose)
  const starts = compose.phases.flatMap((p) => (p.startedAt === null ? [] : [p.startedAt]));
  const start = Math.min(compose.startedAt, ...starts);
  const end = Math.max(compose.completedAt ?? pc.now, ...compose.phases.flatMap((p) => (p.completedAt === null ? [] : [p.completedAt])));

  const facts = html`<dl class="facts">
<dt>Status</dt><dd>${composeBadge(compose.status, running ? html` id="compose-status" data-watch-compose="${row.id}" data-after="${after}"` : "")} <span id="compose-changed" hidden>· changed, <a href="${path`/composes/${id}`}">reload</a></span></dd>
<dt>Definition</dt><dd><a href="${`/composes${query({ name: compose.name })}`}">${compose.name}</a> <span class="hash">${compose.definitionHash.slice(0, 16)}</span></dd>
<dt>Owner</dt><dd>${compose.owner}</dd>
<dt>Started</dt><dd>${formatTime(compose.startedAt)}</dd>
<dt>Finished</dt><dd id="compose-finished">${formatTime(compose.completedAt)}${compose.completedAt ? html` <span class="muted">took ${formatDuration(compose.completedAt - compose.startedAt)}</span>` : ""}</dd>
</dl>`;

  const phaseRows = compose.phases.map(
    (p) =>
      // its times as data too: web.js redraws the times and the timeline from the compose's events
      html`<tr id="${`phase-${p.name}`}" data-started="${p.startedAt ?? ""}" data-completed="${p.completedAt ?? ""}"><td>${p.name}</td><td>${composeBadge(p.status, html` data-phase="${p.name}"`)}</td><td class="opt">${
        p.startedAt ? formatTime(p.startedAt) : ""
      }</td><td class="num">${p.startedAt && p.completedAt ? formatDuration(p.completedAt - p.startedAt) : ""}</td><td class="opt">${phaseBar(p, start, end)}</td><td>${p.error ? html`<code>${p.error.code}</code> ${p.error.message.slice(0, 300)}` : ""}</td><td>${
        p.status === "skipped"
          ? ""
          : // a pending phase's link is shown when the compose's events say the phase has started
            html`<a href="${path`/composes/${id}/phases/${p.name}/log`}"${p.status === "pending" ? raw(" hidden") : ""}>log</a>`
      }</td></tr>`,
  );
  const imageRows = compose.images.map(
    (i) =>
      html`<tr><td>${i.variant}/${i.arch}</td><td>${i.kind}</td><td>${i.path}</td><td class="num">${formatBytes(i.size)}</td><td class="hash">${i.digest ?? ""}</td></tr>`,
  );
  const builds = new Map(
    (
      await (async () => {
        const ids = [...new Set(compose.packages.flatMap((p) => (p.build === null ? [] : [p.build])))];
        return ids.length ? env.db.selectFrom("builds").select(["id", "name", "version"]).where("id", "in", ids).execute() : [];
      })()
    ).map((b) => [b.id, b]),
  );
  const packageRows = compose.packages.map((p) => {
    const build = p.build === null ? undefined : builds.get(p.build);
    return html`<tr><td>${p.variant}/${p.arch}</td><td>${p.name}</td><td>${p.version}</td><td>${p.packageArch}</td><td>${
      build ? html`<a href="${path`/builds/${build.id}`}">${build.name} ${build.version}</a>` : html`<span class="muted">archive</span>`
    }</td></tr>`;
  });
  const built = compose.packages.filter((p) => p.build !== null).length;
  // the image phases of a compose run with --images-on hub: one builder task per variant and arch
  const imageTasks = await composeImageTasks(env.db, id);
  const imageTaskSection =
    imageTasks.length || running
      ? html`<section><h2>Image tasks</h2><p class="muted" id="image-tasks-none"${imageTasks.length ? raw(" hidden") : ""}>None${
          running ? " yet" : ""
        }: the image phases run on the compose's own machine unless it was started with --images-on hub.</p><div class="table-wrap"${imageTasks.length ? "" : raw(" hidden")}><table><thead><tr><th scope="col">Variant</th><th scope="col">Task</th><th scope="col">State</th><th scope="col">Builder</th><th scope="col">Live log</th></tr></thead><tbody id="image-tasks" data-log="${IMAGE_LOG}">${imageTasks.map(
          imageTaskRow,
        )}</tbody></table></div></section>`
      : "";

  const body = html`<h1>Compose ${compose.id}</h1>
<div class="grid2"><section><h2>Details</h2>${facts}</section>
<section><h2>Definition</h2><details><summary>${compose.name} (sha256 ${compose.definitionHash.slice(0, 12)}…)</summary><pre class="log">${compose.definition}</pre></details></section></div>
<section id="phases" data-start="${compose.startedAt}" data-end="${compose.completedAt ?? ""}"><h2>Phases</h2>${table(["Phase", "Status", ["Started", "opt"], ["Took", "num"], ["Timeline", "opt"], "Error", "Log"], phaseRows, "No phase reported yet.")}</section>
${imageTaskSection}
<section><h2>Images</h2>${table(["Variant", "Kind", "Path", ["Size", "num"], "Digest"], imageRows, running ? "No image yet." : "No images.")}</section>
<section><h2>Published</h2>${publishedSection(compose.published, running)}</section>
<section><h2>Package diff</h2>${diffSection(compose.diff)}</section>
<section><h2>Packages</h2><p class="muted">${compose.packages.length} package(s), ${built} built by this hub.</p>${
    compose.packages.length
      ? html`<details${compose.packages.length <= 50 ? raw(" open") : ""}><summary>All packages</summary>${table(["Variant", "Package", "Version", "Arch", "Build"], packageRows)}</details>`
      : ""
  }</section>
<section><h2>SBOM</h2>${
    compose.hasSbom
      ? html`<p>One SPDX document per image: <a href="${apiUrl("getComposeSbom", { id })}">sbom.json</a></p>`
      : html`<p class="muted">No SBOM recorded.</p>`
  }</section>
<section><h2>History</h2>${table(["When", "Event", "By", ["Details", "opt"]], eventRows(events, users, pc.now), "No events.")}</section>`;
  return layout(pc, { title: `Compose ${compose.id}`, nav: "composes", body });
}

export async function composeLogPage(env: WebEnv, pc: PageContext, id: string, phase: string): Promise<string | undefined> {
  let log: string;
  try {
    log = await composePhaseLog(env.db, id, phase);
  } catch (error) {
    if (isCodedError(error, "NOT_FOUND")) return undefined;
    throw error;
  }
  const body = html`<h1>${phase} of ${composeLink(id)}</h1><p><a href="${apiUrl("readComposePhaseLog", { id, phase })}">Raw log</a></p><pre class="log" tabindex="0">${log}</pre>`;
  return layout(pc, { title: `${phase} of compose ${id}`, nav: "composes", body });
}
