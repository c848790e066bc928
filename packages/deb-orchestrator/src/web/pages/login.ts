import { html, query } from "../html.js";
import { layout, type PageContext } from "../layout.js";
import { LOGIN_COOKIE } from "../session.js";

/**
 * The login form. Its stylesheet is inlined (with the response's CSP nonce) because a hub that keeps
 * reads private serves nothing else, not even the stylesheet, to a browser without a session.
 */
export function loginPage(
  pc: PageContext,
  options: { next: string; nonce: string; loginNonce: string; css: string; message?: string },
): string {
  const body = html`<div class="login"><h1>Log in</h1>${options.message ? html`<p class="flash error" role="alert">${options.message}</p>` : ""}
<p>Paste an API token of your user (<code>deb-orchestrator token create NAME</code>). The hub checks it once and opens a session of 12 hours in a cookie that scripts cannot read and other sites cannot send (the cookie is not the token); log out to end it.</p>
<form method="post" action="${`/login${query({ next: options.next })}`}"><input type="hidden" name="${LOGIN_COOKIE}" value="${options.loginNonce}">
<label for="token">API token</label><input type="password" id="token" name="token" autocomplete="current-password" required spellcheck="false">
<button type="submit" class="primary">Log in</button></form></div>`;
  return layout(pc, { title: "Log in", body, inlineCss: options.css });
}

export function errorPage(pc: PageContext, status: number, code: string, message: string, hint?: string): string {
  const body = html`<h1>${status === 404 ? "Not found" : status === 403 ? "Not allowed" : status === 401 ? "Log in needed" : "Error"}</h1><p class="flash error" role="alert"><code>${code}</code> ${message}</p>${
    hint ? html`<p class="muted">${hint}</p>` : ""
  }<p><a href="/">Back to the overview</a></p>`;
  return layout(pc, { title: `Error ${status}`, body });
}
