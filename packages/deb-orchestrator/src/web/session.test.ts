import { describe, expect, it } from "vitest";
import {
  checkCsrfToken,
  checkLoginNonce,
  csrfTokenFor,
  newLoginNonce,
  parseCookies,
  SESSION_COOKIE,
  safeNext,
  sameOrigin,
  serializeCookie,
} from "./session.js";

describe("cookies", () => {
  it("parses a Cookie header; the first of a name wins; bad escapes are skipped", () => {
    const cookies = parseCookies(`a=1; ${SESSION_COOKIE}=dot_abc%2Bdef; a=2; b="quoted"; bad=%E0%A4%A; =x; flag`);
    expect(cookies.get("a")).toBe("1");
    expect(cookies.get(SESSION_COOKIE)).toBe("dot_abc+def");
    expect(cookies.get("b")).toBe("quoted");
    expect(cookies.has("bad")).toBe(false);
    expect(parseCookies(undefined).size).toBe(0);
  });

  it("writes HttpOnly, SameSite=Strict, Path=/ cookies, Secure over HTTPS, and clears them", () => {
    expect(serializeCookie("s", "v w", { secure: false, maxAgeS: 60 })).toBe("s=v%20w; Path=/; HttpOnly; SameSite=Strict; Max-Age=60");
    expect(serializeCookie("s", "v", { secure: true })).toBe("s=v; Path=/; HttpOnly; SameSite=Strict; Secure");
    expect(serializeCookie("s", "v", { secure: false, clear: true })).toBe("s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    expect(() => serializeCookie("bad name", "v", { secure: false })).toThrow();
  });
});

describe("CSRF tokens", () => {
  it("binds the synchronizer token to the session and reveals nothing of it", () => {
    const session = "dot_sessiontokenAAAAAAAAAAAAAAAAAAAAAAAA";
    const token = csrfTokenFor(session);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(token).not.toContain(session);
    expect(csrfTokenFor(session)).toBe(token); // stable for the session: several tabs work
    expect(checkCsrfToken(session, token)).toBe(true);
    expect(checkCsrfToken("dot_anothersessionBBBBBBBBBBBBBBBBBBBBB", token)).toBe(false);
    expect(checkCsrfToken(session, `${token}x`)).toBe(false);
    expect(checkCsrfToken(session, token.slice(0, -1))).toBe(false);
    expect(checkCsrfToken(session, undefined)).toBe(false);
    expect(checkCsrfToken(undefined, token)).toBe(false);
    expect(checkCsrfToken(session, "")).toBe(false);
  });

  it("checks the login form's double-submitted nonce", () => {
    const nonce = newLoginNonce();
    expect(nonce).not.toBe(newLoginNonce());
    expect(checkLoginNonce(nonce, nonce)).toBe(true);
    expect(checkLoginNonce(nonce, newLoginNonce())).toBe(false);
    expect(checkLoginNonce(undefined, nonce)).toBe(false);
    expect(checkLoginNonce("short", "short")).toBe(false);
  });

  it("refuses requests whose Origin or Referer names another site", () => {
    expect(sameOrigin({ host: "hub:8470", origin: "http://hub:8470" })).toBe(true);
    expect(sameOrigin({ host: "hub:8470", referer: "http://hub:8470/tasks/1" })).toBe(true);
    expect(sameOrigin({ host: "hub:8470" })).toBe(true); // no claim: the CSRF token decides
    expect(sameOrigin({ host: "hub:8470", origin: "http://evil.invalid" })).toBe(false);
    expect(sameOrigin({ host: "hub:8470", origin: "http://hub:8471" })).toBe(false);
    expect(sameOrigin({ host: "hub:8470", origin: "null" })).toBe(false);
    expect(sameOrigin({ host: "hub:8470", referer: "not a url" })).toBe(false);
  });

  it("sends the browser back only to a local path after login", () => {
    expect(safeNext("/tasks/3?x=1")).toBe("/tasks/3?x=1");
    expect(safeNext("//evil.invalid/")).toBe("/");
    expect(safeNext("https://evil.invalid/")).toBe("/");
    expect(safeNext("/\\evil.invalid")).toBe("/");
    expect(safeNext("/a\r\nSet-Cookie: x")).toBe("/");
    expect(safeNext(undefined)).toBe("/");
    // what browsers read as another site: tabs and newlines are dropped, a backslash is a slash
    expect(safeNext("/\t/evil.invalid")).toBe("/");
    expect(safeNext("/\n/evil.invalid")).toBe("/");
    expect(safeNext("/.//evil.invalid")).toBe("/");
    expect(safeNext("/a\\b")).toBe("/");
    expect(safeNext("/\x0b")).toBe("/");
    // every control character anywhere
    for (let code = 0; code < 0x20; code++) expect(safeNext(`/tasks${String.fromCharCode(code)}x`)).toBe("/");
    expect(safeNext("/tasks/../builds?x=%2F%2Fevil")).toBe("/builds?x=%2F%2Fevil");
  });
});
