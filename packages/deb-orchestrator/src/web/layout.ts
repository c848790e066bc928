import type { Principal } from "../hub/auth.js";
import { html, path, query, raw, type SafeHtml } from "./html.js";
import { CSRF_FIELD } from "./session.js";

/** What every page needs to know about the request it answers. */
export interface PageContext {
  principal: Principal | undefined;
  /** The session's CSRF token, when logged in through the web. */
  csrf: string | undefined;
  now: number;
  /** Per-response nonce allowed by the Content-Security-Policy (the login page's inline style). */
  nonce: string;
  /** Cache-busting version of the stylesheet and script. */
  assetVersion: string;
  /** The request path with its query, for "log in and come back". */
  url: string;
  flash?: { kind: "ok" | "error"; text: string };
}

const NAV: Array<[string, string, string]> = [
  ["overview", "/", "Overview"],
  ["tasks", "/tasks", "Tasks"],
  ["builds", "/builds", "Builds"],
  ["composes", "/composes", "Composes"],
  ["packages", "/packages", "Packages"],
  ["tags", "/tags", "Tags"],
  ["targets", "/targets", "Targets"],
  ["external-repos", "/external-repos", "External repos"],
  ["repositories", "/repositories", "Repositories"],
  ["hosts", "/hosts", "Hosts"],
];

export function can(pc: PageContext, perm: string): boolean {
  const p = pc.principal;
  return p !== undefined && pc.csrf !== undefined && (p.perms.has(perm) || p.perms.has("admin"));
}

export function isAdmin(pc: PageContext): boolean {
  return can(pc, "admin");
}

export function layout(
  pc: PageContext,
  options: { title: string; nav?: string; body: SafeHtml; inlineCss?: string; searchValue?: string },
): string {
  const who = pc.principal
    ? html`<div class="who"><span>${pc.principal.name}</span>${
        pc.csrf
          ? html`<form method="post" action="/logout" class="inline"><input type="hidden" name="${CSRF_FIELD}" value="${pc.csrf}"><button type="submit">Log out</button></form>`
          : ""
      }</div>`
    : html`<div class="who"><a href="${`/login${query({ next: pc.url })}`}">Log in</a></div>`;
  const nav = NAV.map(
    ([key, href, label]) => html`<li><a href="${href}"${key === options.nav ? raw(' aria-current="page"') : ""}>${label}</a></li>`,
  );
  const style = options.inlineCss
    ? html`<style nonce="${pc.nonce}">${raw(options.inlineCss.replace(/<\/style/gi, ""))}</style>`
    : html`<link rel="stylesheet" href="/static/web.css?v=${pc.assetVersion}">`;
  const flash = pc.flash ? html`<p class="flash ${pc.flash.kind}" role="status">${pc.flash.text}</p>` : "";
  return `<!doctype html>\n${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark"><title>${options.title} · deb-orchestrator</title>${style}<script src="/static/web.js?v=${pc.assetVersion}" defer></script></head><body><a class="skip" href="#content">Skip to content</a><header class="top"><a class="brand" href="/">deb-<span>orchestrator</span></a><nav class="main" aria-label="Main"><ul>${nav}</ul></nav><form class="search" method="get" action="/search" role="search"><label for="q" class="skip">Search</label><input type="search" id="q" name="q" placeholder="package, name/version or id" value="${options.searchValue ?? ""}" autocomplete="off"><button type="submit">Search</button></form>${who}</header><main id="content" tabindex="-1">${flash}${options.body}</main></body></html>`}`;
}

export function stateBadge(state: string, id?: string): SafeHtml {
  return html`<span class="state state-${state.replace(/[^a-z-]/g, "")}"${id ? html` id="${id}"` : ""}>${state}</span>`;
}

export function taskLink(task: { id: number; method: string; arch: string | null; label?: string | null }): SafeHtml {
  return html`<a href="${path`/tasks/${task.id}`}">${task.method}${task.arch ? ` (${task.arch})` : ""} #${task.id}</a>`;
}

export function buildLink(build: { id: number; name: string; version: string }): SafeHtml {
  return html`<a href="${path`/builds/${build.id}`}">${build.name} ${build.version}</a>`;
}

export function packageLink(name: string): SafeHtml {
  return html`<a href="${path`/packages/${name}`}">${name}</a>`;
}

export function tagLink(name: string): SafeHtml {
  return html`<a href="${path`/tags/${name}`}">${name}</a>`;
}

/** Previous/next links that keep the other query parameters. */
export function pager(base: string, params: Record<string, string | number | undefined>, page: number, hasNext: boolean): SafeHtml {
  if (page <= 1 && !hasNext) return html``;
  const prev = page > 1 ? html`<a rel="prev" href="${base}${query({ ...params, page: page - 1 })}">← Newer</a>` : "";
  const next = hasNext ? html`<a rel="next" href="${base}${query({ ...params, page: page + 1 })}">Older →</a>` : "";
  return html`<nav class="pages" aria-label="Pages">${prev}<span class="muted">page ${page}</span>${next}</nav>`;
}

/** A POST form with the session's CSRF token; hidden fields and an optional confirmation question. */
export function actionForm(
  pc: PageContext,
  action: string,
  label: string,
  options: { fields?: Record<string, string | number>; danger?: boolean; confirm?: string; extra?: SafeHtml } = {},
): SafeHtml {
  const hidden = Object.entries(options.fields ?? {}).map(([k, v]) => html`<input type="hidden" name="${k}" value="${String(v)}">`);
  return html`<form method="post" action="${action}" class="inline"${options.confirm ? html` data-confirm="${options.confirm}"` : ""}><input type="hidden" name="${CSRF_FIELD}" value="${pc.csrf ?? ""}">${hidden}${options.extra ?? ""}<button type="submit"${options.danger ? raw(' class="danger"') : ""}>${label}</button></form>`;
}

/** A horizontal bar for a ratio, drawn in SVG (style attributes are not allowed by the page's CSP). */
export function meter(value: number, max: number, label: string): SafeHtml {
  const ratio = max > 0 ? Math.max(0, Math.min(1, value / max)) : 0;
  return html`<span class="meter${ratio >= 1 ? " full" : ""}" role="img" aria-label="${label}" title="${label}"><svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true"><rect class="fill" width="${(ratio * 100).toFixed(1)}" height="10"/></svg></span>`;
}

export function table(headers: Array<string | SafeHtml | [string, string]>, rows: SafeHtml[], empty = "Nothing here."): SafeHtml {
  if (!rows.length) return html`<p class="muted">${empty}</p>`;
  const head = headers.map((h) =>
    Array.isArray(h) ? html`<th scope="col" class="${h[1]}">${h[0]}</th>` : html`<th scope="col">${h}</th>`,
  );
  return html`<div class="table-wrap"><table><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table></div>`;
}
