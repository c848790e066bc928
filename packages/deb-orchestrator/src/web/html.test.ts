import { describe, expect, it } from "vitest";
import {
  escapeHtml,
  externalLink,
  formatAgo,
  formatBytes,
  formatDuration,
  formatTime,
  html,
  isSafeHtml,
  join,
  path,
  query,
  raw,
} from "./html.js";
import { actionForm, layout, type PageContext, stateBadge } from "./layout.js";

const hostile = `<script>alert("x")</script>&'\`<img src=x onerror=alert(1)>`;

function pc(overrides: Partial<PageContext> = {}): PageContext {
  return { principal: undefined, csrf: undefined, now: 0, nonce: "n0nce", assetVersion: "v1", url: "/", ...overrides };
}

describe("HTML escaping", () => {
  it("escapes the five markup characters and the backtick", () => {
    expect(escapeHtml(`<a href="x" title='y'>&\`</a>`)).toBe("&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&#96;&lt;/a&gt;");
    expect(escapeHtml("plain text 1.2-3+b1")).toBe("plain text 1.2-3+b1");
  });

  it("escapes every interpolated string, in element content and attribute values", () => {
    const out = html`<p title="${hostile}">${hostile}</p>`.text;
    expect(out).not.toContain("<script");
    expect(out).not.toContain("<img");
    expect(out).not.toMatch(/title="[^"]*"[^>]/); // the attribute value cannot be closed early
    expect(out).toBe(`<p title="${escapeHtml(hostile)}">${escapeHtml(hostile)}</p>`);
  });

  it("escapes strings inside arrays and nested templates, but not nested templates themselves", () => {
    const items = ["<b>", "a&b"].map((s) => html`<li>${s}</li>`);
    const out = html`<ul>${items}${["<i>"]}</ul>`.text;
    expect(out).toBe("<ul><li>&lt;b&gt;</li><li>a&amp;b</li>&lt;i&gt;</ul>");
  });

  it("renders numbers and drops null, undefined and false", () => {
    expect(html`${1}|${null}|${undefined}|${false}|${0}`.text).toBe("1||||0");
  });

  it("trusts only SafeHtml values: a look-alike object is escaped as text", () => {
    const fake = { text: "<b>", toString: () => "<b>" } as unknown as string;
    expect(html`${fake}`.text).toBe("&lt;b&gt;");
    expect(isSafeHtml(raw("<b>"))).toBe(true);
    expect(html`${raw("<b>")}`.text).toBe("<b>");
    expect(join(["<a>", raw("<br>")], ", ").text).toBe("&lt;a&gt;, <br>");
  });

  it("percent-encodes path segments so a name cannot add path, query or fragment parts", () => {
    expect(path`/tags/${"a/../b?c#d"}`).toBe("/tags/a%2F..%2Fb%3Fc%23d");
    expect(path`/tasks/${12}/logs/${"build.log"}`).toBe("/tasks/12/logs/build.log");
    expect(query({ a: "x&y=z", b: undefined, c: "", d: 3 })).toBe("?a=x%26y%3Dz&d=3");
    expect(query({})).toBe("");
  });

  it("links only http(s) URLs; javascript: and data: URLs stay text", () => {
    expect(externalLink("http://deb.invalid/debian").text).toBe(
      '<a href="http://deb.invalid/debian" rel="noopener noreferrer nofollow">http://deb.invalid/debian</a>',
    );
    expect(externalLink("javascript:alert(1)").text).toBe("<span>javascript:alert(1)</span>");
    expect(externalLink("data:text/html,<script>").text).toBe("<span>data:text/html,&lt;script&gt;</span>");
    expect(externalLink('http://x.invalid/"><script>').text).not.toContain("<script>");
  });

  it("escapes user-controlled text in the page shell: search box, user name, flash, state", () => {
    const principal = { userId: 1, name: `<u>${hostile}`, perms: new Set(["build"]) };
    const page = layout(pc({ principal, csrf: `"><x`, flash: { kind: "ok", text: hostile } }), {
      title: hostile,
      body: html`${stateBadge(hostile)}`,
      searchValue: hostile,
    });
    expect(page.match(/<script/g)).toEqual(["<script"]); // only the page's own script element
    expect(page).toContain('<script src="/static/web.js?v=v1" defer></script>');
    expect(page).not.toContain("<img");
    expect(page).not.toContain("<u>");
    expect(page).not.toContain('"><x');
    expect(page.match(/<title>[^<]*<\/title>/)?.[0]).toContain("&lt;script&gt;");
  });

  it("puts the CSRF token and hidden fields of an action form in escaped attributes", () => {
    const form = actionForm(pc({ csrf: "tok&en" }), "/tags/x/regen", "Go", { fields: { tag: `a"b` }, confirm: `sure "now"?` }).text;
    expect(form).toContain('name="_csrf" value="tok&amp;en"');
    expect(form).toContain('name="tag" value="a&quot;b"');
    expect(form).toContain('data-confirm="sure &quot;now&quot;?"');
  });

  it("inlines a stylesheet only with the nonce and cannot be closed by its content", () => {
    const page = layout(pc(), { title: "t", body: html``, inlineCss: "body{} </style><script>x</script>" });
    expect(page).toContain('<style nonce="n0nce">');
    expect(page.match(/<\/style/gi)).toHaveLength(1);
  });
});

describe("formatting", () => {
  it("formats sizes, durations and times", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(200 * 1024 * 1024)).toBe("200 MiB");
    expect(formatDuration(450)).toBe("450 ms");
    expect(formatDuration(61_000)).toBe("1 min 1 s");
    expect(formatDuration(3 * 3_600_000 + 60_000)).toBe("3 h 1 min");
    expect(formatDuration(null)).toBe("–");
    expect(formatTime(Date.UTC(2025, 2, 1, 14, 5, 9))).toBe("2025-03-01 14:05:09 UTC");
    expect(formatAgo(1000, 1000 + 125_000)).toBe("2 min ago");
    expect(formatAgo(null, 0)).toBe("never");
  });
});
