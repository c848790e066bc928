/*
 * Server-side HTML: one tagged template (`html`) that escapes every interpolated value unless it is
 * already `SafeHtml` (the result of another `html` call or of `raw` on a constant). Pages are built only
 * from these, so a user-controlled string (an error message, a log line, a tag name) can never become
 * markup. Attribute values are always written in double quotes, which the escaping covers.
 */

const SAFE = Symbol("safe-html");

export interface SafeHtml {
  readonly [SAFE]: true;
  readonly text: string;
  toString(): string;
}

function safe(text: string): SafeHtml {
  return { [SAFE]: true, text, toString: () => text };
}

export function isSafeHtml(value: unknown): value is SafeHtml {
  return typeof value === "object" && value !== null && (value as { [SAFE]?: unknown })[SAFE] === true;
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };

/** Escape text for element content and double- or single-quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ENTITIES[c] ?? c);
}

/** Values a template accepts: text (escaped), numbers, safe fragments, lists of these; null/undefined/false render nothing. */
export type HtmlValue = string | number | bigint | SafeHtml | null | undefined | false | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return "";
  if (isSafeHtml(value)) return value.text;
  if (Array.isArray(value)) return value.map((v: HtmlValue) => render(v)).join("");
  return escapeHtml(String(value));
}

/** `html\`<p>${text}</p>\``: the literal parts are trusted, every value is escaped. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? "");
  return safe(out);
}

/** Trust a string as markup. Only for constants and output of this module's own renderers. */
export function raw(text: string): SafeHtml {
  return safe(text);
}

export function join(parts: readonly HtmlValue[], separator: HtmlValue = ""): SafeHtml {
  return safe(parts.map((p) => render(p)).join(render(separator)));
}

/**
 * A URL path built from fixed segments and user-controlled ones: every dynamic segment is
 * percent-encoded, so a name cannot add `/`, `?` or `#`, and the result is escaped when interpolated.
 */
export function path(strings: TemplateStringsArray, ...segments: Array<string | number>): string {
  let out = strings[0] ?? "";
  for (let i = 0; i < segments.length; i++) out += encodeURIComponent(String(segments[i])) + (strings[i + 1] ?? "");
  return out;
}

/** A query string from the non-empty entries (`?a=1&b=x`), or "" when there are none. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Only http(s) URLs become links; anything else (javascript:, data:, file:) is shown as text. */
export function externalLink(url: string, label?: string): SafeHtml {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed && (parsed.protocol === "http:" || parsed.protocol === "https:"))
    return html`<a href="${parsed.toString()}" rel="noopener noreferrer nofollow">${label ?? url}</a>`;
  return html`<span>${label ?? url}</span>`;
}

// ---- formatting

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "?";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Absolute time in UTC, to the second: `2025-03-01 14:05:09 UTC`. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "–";
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

export function formatAgo(ms: number | null | undefined, now: number): string {
  if (ms === null || ms === undefined) return "never";
  const delta = now - ms;
  if (delta < 0) return "just now";
  if (delta < 5000) return "just now";
  return `${formatDuration(delta).replace(/ \d+ (s|min|h)$/, "")} ago`;
}

/** `<time>` with the absolute time as its machine value and title, and a relative label. */
export function timeAgo(ms: number | null | undefined, now: number): SafeHtml {
  if (ms === null || ms === undefined) return html`<span class="muted">never</span>`;
  return html`<time datetime="${new Date(ms).toISOString()}" title="${formatTime(ms)}">${formatAgo(ms, now)}</time>`;
}
