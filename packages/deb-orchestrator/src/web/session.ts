import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/*
 * The web UI's login and CSRF logic, kept free of Fastify so it can be tested alone.
 *
 * Login: the user pastes an API token once; the hub checks it and opens a web session (hub/web-sessions.ts):
 * the cookie holds the session's random id, never the token, and is HttpOnly (no script can read it),
 * SameSite=Strict (no other site's page can make the browser send it) and Secure when the hub is reached
 * over HTTPS. The session ends at logout, after SESSION_TTL_MS, or when the token is revoked or expires.
 *
 * CSRF: every state-changing form carries a synchronizer token derived from the session, an HMAC of a
 * fixed label keyed with the session id. Only someone holding the token can compute it, it changes with
 * the session, and showing it in a page reveals nothing about the token. The login form itself (before
 * a session exists) uses a double-submit token: a random value in a SameSite=Strict cookie that the form
 * must repeat. Requests whose Origin (or Referer) names another site are refused before either check.
 */

export const SESSION_COOKIE = "dob_session";
export const LOGIN_COOKIE = "dob_login";
export const CSRF_FIELD = "_csrf";
const CSRF_LABEL = "deb-orchestrator web csrf v1";

export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (!name || cookies.has(name)) continue; // the first (most specific) cookie of a name wins
    try {
      cookies.set(name, decodeURIComponent(value));
    } catch {
      // a malformed escape: ignore this cookie
    }
  }
  return cookies;
}

export interface CookieOptions {
  maxAgeS?: number;
  secure: boolean;
  /** Expire the cookie now. */
  clear?: boolean;
}

/** A Set-Cookie value: always HttpOnly, SameSite=Strict and Path=/; Secure over HTTPS. */
export function serializeCookie(name: string, value: string, options: CookieOptions): string {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`bad cookie name ${name}`);
  const parts = [`${name}=${options.clear ? "" : encodeURIComponent(value)}`, "Path=/", "HttpOnly", "SameSite=Strict"];
  if (options.clear) parts.push("Max-Age=0");
  else if (options.maxAgeS !== undefined) parts.push(`Max-Age=${Math.floor(options.maxAgeS)}`);
  if (options.secure) parts.push("Secure");
  return parts.join("; ");
}

/** The synchronizer token of a session (keyed with its id). */
export function csrfTokenFor(sessionToken: string): string {
  return createHmac("sha256", sessionToken).update(CSRF_LABEL).digest("base64url");
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Does the submitted token belong to this session? Constant time; false for a missing one. */
export function checkCsrfToken(sessionToken: string | undefined, submitted: string | undefined): boolean {
  if (!sessionToken || !submitted) return false;
  return sameText(csrfTokenFor(sessionToken), submitted);
}

/** A fresh random value for the login form's double-submit cookie. */
export function newLoginNonce(): string {
  return randomBytes(24).toString("base64url");
}

export function checkLoginNonce(cookieValue: string | undefined, submitted: string | undefined): boolean {
  if (!cookieValue || !submitted || cookieValue.length < 16) return false;
  return sameText(cookieValue, submitted);
}

/**
 * Is a state-changing request coming from one of our own pages? The browser's Origin header (or the
 * Referer when Origin is absent) must name the host the request was sent to. Requests with neither (curl,
 * some privacy settings) pass this check and still need the CSRF token.
 */
export function sameOrigin(headers: { origin?: string; referer?: string; host?: string }): boolean {
  const host = headers.host;
  const claimed = headers.origin ?? headers.referer;
  if (claimed === undefined) return true;
  if (claimed === "null" || host === undefined) return false;
  try {
    return new URL(claimed).host === host;
  } catch {
    return false;
  }
}

/**
 * Where to go after login: only a path of this site, never another one (`//evil`, `https://...`). Browsers
 * drop tabs and newlines from URLs and read `\\` as `/`, so `/\t/evil` is `//evil` to them: a path with any
 * control character, space or backslash is refused, and what remains must resolve to this origin.
 */
export function safeNext(next: string | undefined): string {
  if (!next?.startsWith("/") || next.length > 500 || /[\x00-\x20\x7f-\x9f\\]/.test(next)) return "/";
  const base = "http://same-origin.invalid";
  let resolved: URL;
  try {
    resolved = new URL(next, base);
  } catch {
    return "/";
  }
  // `/.//evil` resolves to the path `//evil`, which a Location header would send to another site
  if (resolved.origin !== base || resolved.pathname.startsWith("//")) return "/";
  return `${resolved.pathname}${resolved.search}`;
}
