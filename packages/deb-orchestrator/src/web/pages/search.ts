import { html, path, timeAgo } from "../html.js";
import { buildLink, layout, type PageContext, packageLink, stateBadge, table, tagLink, taskLink } from "../layout.js";
import { search } from "../read.js";
import { strParam, taskSubject, type WebEnv } from "./common.js";

export async function searchPage(env: WebEnv, pc: PageContext, q: Record<string, unknown>): Promise<string> {
  const text = strParam(q.q, 200) ?? "";
  const result = await search(env.db, text);
  const sections = [];
  if (result.build)
    sections.push(
      html`<section><h2>Build #${result.build.id}</h2><p>${buildLink(result.build)} ${stateBadge(result.build.state)}</p></section>`,
    );
  if (result.task)
    sections.push(
      html`<section><h2>Task #${result.task.id}</h2><p>${taskLink(result.task)} ${taskSubject(result.task)} ${stateBadge(result.task.state)}</p></section>`,
    );
  if (result.builds.length)
    sections.push(
      html`<section><h2>Builds</h2>${table(
        ["Build", "State", "Started"],
        result.builds.map(
          (b) => html`<tr><td>${buildLink(b)}</td><td>${stateBadge(b.state)}</td><td>${timeAgo(b.created_at, pc.now)}</td></tr>`,
        ),
      )}</section>`,
    );
  if (result.packages.length)
    sections.push(
      html`<section><h2>Packages</h2><ul>${result.packages.map((p) => html`<li>${packageLink(p.name)} · <a href="${path`/builds`}?package=${encodeURIComponent(p.name)}">builds</a></li>`)}</ul></section>`,
    );
  if (result.tags.length)
    sections.push(html`<section><h2>Tags</h2><ul>${result.tags.map((t) => html`<li>${tagLink(t.name)}</li>`)}</ul></section>`);
  const body = html`<h1>Search${text ? html` for “${text}”` : ""}</h1>${
    !text
      ? html`<p class="muted">Search by package name (or its beginning), NAME/VERSION, or a task or build id.</p>`
      : sections.length
        ? sections
        : html`<p>Nothing matches “${text}”.</p>`
  }`;
  return layout(pc, { title: text ? `Search: ${text}` : "Search", body, searchValue: text });
}
