import { performance } from "node:perf_hooks";
import Fastify from "fastify";
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import type { HubClient } from "../client/hub-client.js";
import { createTarget, submitBuild, waitForTask, writeSourcePackage } from "../testing/test-builds.js";
import { type DatabaseKind, databaseKinds, startNoopBuilder, startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";
import { bulkSeed } from "./__fixtures__/bulk-seed.js";
import { firstTaskSince, readTimeline } from "./read.js";
import { registerWebUi } from "./web-ui.js";

const databases = useDatabases();
const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>`;

/** Log in through the form: GET /login for the form's cookie, POST the token; returns the session cookie. */
async function login(url: string, token: string): Promise<string> {
  const form = await fetch(`${url}/login`);
  const nonce = /dob_login=([^;]+)/.exec(form.headers.getSetCookie().join("\n"))?.[1];
  expect(nonce).toBeDefined();
  const response = await fetch(`${url}/login?next=%2Ftasks`, {
    method: "POST",
    redirect: "manual",
    headers: { cookie: `dob_login=${nonce}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ dob_login: nonce!, token }),
  });
  expect(response.status).toBe(303);
  expect(response.headers.get("location")).toBe("/tasks?done=login");
  const session = response.headers.getSetCookie().find((c) => c.startsWith("dob_session="));
  // the cookie names a session of its own, never the API token, and lasts hours, not weeks
  expect(session).toMatch(/^dob_session=dos_[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
  expect(session).not.toContain(token);
  expect(Number(/Max-Age=(\d+)/.exec(session!)?.[1])).toBeLessThanOrEqual(12 * 3600);
  return session!.split(";")[0]!;
}

function csrfOf(page: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  if (!token) throw new Error("no CSRF token in the page");
  return token;
}

async function post(url: string, path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(`${url}${path}`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(fields),
  });
}

async function noopTask(client: HubClient): Promise<number> {
  return (await client.submitNoop({ arch: "amd64" })).task;
}

/** A builder driven by hand through the host API: check in, claim (and start) the next task. */
async function handBuilder(test: TestHub, name: string) {
  const client = await test.user(name, ["host"]);
  const session = "s-1";
  await client.post(`/api/v1/hosts/${name}/checkin`, { session, arches: ["amd64"], capacity: 4 });
  return {
    async claim(): Promise<number> {
      const { task } = await client.post<{ task: { id: number } | null }>(`/api/v1/hosts/${name}/claim`, {
        session,
        waitMs: 0,
        start: true,
      });
      if (!task) throw new Error("nothing to claim");
      return task.id;
    },
    async log(id: number, text: string) {
      const response = await client.raw("POST", `/api/v1/hosts/${name}/tasks/${id}/logs/build.log?session=${session}`, {
        body: text,
        headers: { "content-type": "text/plain" },
      });
      expect(response.status).toBe(200);
    },
    fail: (id: number, message: string) =>
      client.post(`/api/v1/hosts/${name}/tasks/${id}/fail`, { session, error: { code: "BUILD_STEP_FAILED", message } }),
    complete: (id: number) => client.post(`/api/v1/hosts/${name}/tasks/${id}/complete`, { session }),
  };
}

describe.each(databaseKinds)("web UI on %s", (kind) => {
  let test: TestHub | undefined;
  afterEach(async () => {
    await test?.close();
    test = undefined;
  });

  it("renders every page and escapes the text users and builders control", async () => {
    test = await startTestHub(databases, kind);
    const url = test.hub.url;
    await test.admin.post("/api/v1/external-repos", { name: "debian", url: "http://deb.invalid/debian", suite: "trixie" });
    await test.admin.post("/api/v1/tags", { name: "base", externalRepos: ["debian"] });
    await test.admin.post("/api/v1/tags", { name: "child", parents: ["base"] });
    await test.admin.post("/api/v1/targets", { name: "t", buildTag: "base", destTag: "child" });
    const builder = await handBuilder(test, "evil-host");
    await noopTask(test.admin);
    const id = await builder.claim();
    await builder.log(id, `${hostile}\nline 2\n`);
    await builder.fail(id, hostile);
    const pages = [
      "/",
      "/tasks",
      `/tasks/${id}`,
      `/tasks/${id}/logs/build.log`,
      "/tasks?state=failed",
      `/tasks?owner=${encodeURIComponent(hostile)}`,
      `/tasks?package=${encodeURIComponent(hostile)}&arch=${encodeURIComponent(hostile)}`,
      "/builds",
      `/builds?package=${encodeURIComponent(hostile)}`,
      "/packages",
      `/packages?prefix=${encodeURIComponent(hostile)}`,
      "/tags",
      "/tags/child",
      "/targets",
      "/external-repos",
      "/repositories",
      "/hosts",
      "/search",
      `/search?q=${encodeURIComponent(hostile)}`,
      "/login",
    ];
    for (const path of pages) {
      const response = await fetch(`${url}${path}`);
      const body = await response.text();
      expect(response.status, path).toBe(200);
      expect(response.headers.get("content-type"), path).toBe("text/html; charset=utf-8");
      expect(response.headers.get("content-security-policy"), path).toContain("script-src 'self'");
      expect(body, path).not.toContain("<script>alert");
      expect(body, path).not.toContain("<img src=x");
    }
    const task = await (await fetch(`${url}/tasks/${id}`)).text();
    expect(task).toContain("&lt;img src=x onerror=alert(1)&gt;"); // the error message, shown as text
    expect(task).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"); // the log, shown as text
    const search = await (await fetch(`${url}/search?q=${encodeURIComponent(hostile)}`)).text();
    expect(search).toContain(`value="&lt;script&gt;`);
    // unknown objects are 404 pages, bad ids 400 pages, never a 500
    expect((await fetch(`${url}/tasks/999999`)).status).toBe(404);
    expect((await fetch(`${url}/builds/0`)).status).toBe(400);
    expect((await fetch(`${url}/tags/${encodeURIComponent(hostile)}`)).status).toBe(404);
    expect((await fetch(`${url}/tasks/${id}/logs/..%2F..%2Fhub.db`)).status).toBe(400);
    // the pages are not part of the API's OpenAPI document (the published repositories' files are)
    const openapi = await test.admin.get<{ paths: Record<string, unknown> }>("/api/v1/openapi.json");
    expect(Object.keys(openapi.paths).filter((p) => !/^\/(api|repos|ostree)\//.test(p))).toEqual([]);
  });

  it("logs in with a token and guards every action with the session's CSRF token and the permission", async () => {
    test = await startTestHub(databases, kind);
    const url = test.hub.url;
    const taskId = await noopTask(test.admin);
    const state = async () => (await test!.admin.get<{ state: string }>(`/api/v1/tasks/${taskId}`)).state;

    // anonymous: no button, and the POST is refused
    expect(await (await fetch(`${url}/tasks/${taskId}`)).text()).not.toContain("Cancel task");
    expect((await post(url, `/tasks/${taskId}/cancel`, { _csrf: "x" })).status).toBe(401);

    // a wrong token does not log in
    const form = await fetch(`${url}/login`);
    const nonce = /dob_login=([^;]+)/.exec(form.headers.getSetCookie().join("\n"))![1]!;
    const bad = await post(url, "/login", { dob_login: nonce, token: "dot_notarealtokenatall" }, { cookie: `dob_login=${nonce}` });
    expect(bad.status).toBe(401);
    expect(bad.headers.getSetCookie().some((c) => c.startsWith("dob_session="))).toBe(false);
    // nor does a login form without its double-submitted nonce
    const forged = await post(url, "/login", { dob_login: nonce, token: test.adminToken });
    expect(forged.status).toBe(403);

    const cookie = await login(url, test.adminToken);
    const page = await (await fetch(`${url}/tasks/${taskId}`, { headers: { cookie } })).text();
    expect(page).toContain("Cancel task");
    const csrf = csrfOf(page);
    // no token, a token of another session, a cross-site origin: refused, nothing changed
    expect((await post(url, `/tasks/${taskId}/cancel`, {}, { cookie })).status).toBe(403);
    const other = await login(url, (await test.admin.post<{ token: string }>("/api/v1/users/admin/tokens", {})).token);
    const otherCsrf = csrfOf(await (await fetch(`${url}/tasks/${taskId}`, { headers: { cookie: other } })).text());
    expect(otherCsrf).not.toBe(csrf);
    expect((await post(url, `/tasks/${taskId}/cancel`, { _csrf: otherCsrf }, { cookie })).status).toBe(403);
    expect((await post(url, `/tasks/${taskId}/cancel`, { _csrf: csrf }, { cookie, origin: "http://evil.invalid" })).status).toBe(403);
    // a Bearer token alone (no browser session) cannot use the form endpoints either
    expect((await post(url, `/tasks/${taskId}/cancel`, { _csrf: csrf }, { authorization: `Bearer ${test.adminToken}` })).status).toBe(403);
    expect(await state()).toBe("free");

    // users without the permission, or not the task's owner, are refused with the reason
    await test.user("viewer", []);
    const viewer = await login(url, (await test.admin.post<{ token: string }>("/api/v1/users/viewer/tokens", {})).token);
    const viewerPage = await (await fetch(`${url}/tasks/${taskId}`, { headers: { cookie: viewer } })).text();
    expect(viewerPage).not.toContain("Cancel task");
    const denied = await post(url, `/tasks/${taskId}/cancel`, { _csrf: csrfOf(viewerPage) }, { cookie: viewer });
    expect(denied.status).toBe(403);
    expect(await denied.text()).toContain("PERMISSION_DENIED");
    await test.user("alice", ["build"]);
    const alice = await login(url, (await test.admin.post<{ token: string }>("/api/v1/users/alice/tokens", {})).token);
    const aliceCsrf = csrfOf(await (await fetch(`${url}/tasks/${taskId}`, { headers: { cookie: alice } })).text());
    expect((await post(url, `/tasks/${taskId}/cancel`, { _csrf: aliceCsrf }, { cookie: alice })).status).toBe(403);
    expect(await state()).toBe("free");

    // the owner's admin with the right token: canceled, then resubmitted
    const done = await post(url, `/tasks/${taskId}/cancel`, { _csrf: csrf }, { cookie, origin: url });
    expect(done.status).toBe(303);
    expect(done.headers.get("location")).toBe(`/tasks/${taskId}?done=canceled`);
    expect(await state()).toBe("canceled");
    const resubmitted = await post(url, `/tasks/${taskId}/resubmit`, { _csrf: csrf }, { cookie });
    expect(resubmitted.status).toBe(303);
    const newId = Number(/^\/tasks\/(\d+)\?done=resubmitted$/.exec(resubmitted.headers.get("location") ?? "")?.[1]);
    expect((await test.admin.get<{ state: string; method: string }>(`/api/v1/tasks/${newId}`)).method).toBe("noop");

    // tag, untag and regenerate through the forms
    await test.admin.post("/api/v1/tags", { name: "base" });
    const regen = await post(url, "/tags/base/regen", { _csrf: csrf }, { cookie });
    expect(regen.status).toBe(303);
    expect(regen.headers.get("location")).toMatch(/^\/tasks\/\d+\?done=regen$/);

    // revoking the token ends the browser session at once: the cookie no longer logs in
    await test.hub.ctx.db.updateTable("tokens").set({ revoked: 1 }).execute();
    test.hub.ctx.principals.clear();
    expect(await (await fetch(`${url}/tasks/${taskId}`, { headers: { cookie } })).text()).not.toContain("Log out");
  });

  it("streams a running task's log as server-sent events and ends when the task does", async () => {
    test = await startTestHub(databases, kind);
    const builder = await handBuilder(test, "b1");
    await noopTask(test.admin);
    const id = await builder.claim();
    await builder.log(id, "first line\n");
    const page = await (await fetch(`${test.hub.url}/tasks/${id}`)).text();
    expect(page).toMatch(
      /<pre class="log" id="log" tabindex="0" data-offset="11" data-lines="1" data-stream="\/tasks\/\d+\/logs\/build.log\/events">first line\n<\/pre>/,
    );
    const response = await fetch(`${test.hub.url}/tasks/${id}/logs/build.log/events?offset=6`);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let received = "";
    const readUntil = async (needle: string) => {
      while (!received.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}; got ${received}`);
        received += value;
      }
    };
    await readUntil(`data: "line\\n"`);
    expect(received).toContain("id: 11\nevent: chunk\n");
    await builder.log(id, "second line — ünïcode\n");
    await readUntil("second line");
    await builder.complete(id);
    await readUntil("event: end");
    expect(received).toContain(`data: {"state":"closed"}`);
    expect(received).toContain(`data: "second line — ünïcode\\n"`);
    // a reconnecting browser resumes after the last event it saw
    const again = await fetch(`${test.hub.url}/tasks/${id}/logs/build.log/events`, { headers: { "last-event-id": "11" } });
    const text = await again.text();
    expect(text).not.toContain("first line");
    expect(text).toContain("second line");
    expect(text).toContain("event: end");
  });

  it("shows composes: the list, the overview, a compose page with its phases, images, packages with their builds, diff and SBOM", async () => {
    test = await startTestHub(databases, kind);
    const url = test.hub.url;
    await createTarget(test.admin);
    const builder = await startNoopBuilder(test, "b1");
    await waitForTask(test.admin, await submitBuild(test.admin, "t", await writeSourcePackage(test.dir, "hello", "1.0-1")));
    await builder.stop(100);
    const [build] = await test.admin.listBuilds({ name: "hello" });
    const id = "demo-13.0-20261203.0";
    await test.admin.createCompose({ id, name: "demo", definition: `name: demo\n# ${hostile}\n`, phases: ["init", "pkgset", "rootfs"] });
    const initStarted = Date.now() - 5000;
    await test.admin.reportComposePhase(id, "init", {
      status: "done",
      startedAt: initStarted,
      completedAt: initStarted + 1000,
      log: `${hostile}\n`,
    });
    await test.admin.reportComposePhase(id, "pkgset", { status: "running" });
    // while it runs, the page follows the compose's events from the last one it shows
    const running = await (await fetch(`${url}/composes/${id}`)).text();
    const [last] = await test.admin.get<Array<{ id: number }>>("/api/v1/events?after=0&limit=10000").then((e) => e.slice(-1));
    expect(running).toMatch(
      new RegExp(`<span class="state state-started" id="compose-status" data-watch-compose="\\d+" data-after="${last!.id}">STARTED</span>`),
    );
    expect(running).toContain('<span class="state state-running" data-phase="pkgset">running</span>');
    expect(running).toContain('<span class="state state-pending" data-phase="rootfs">pending</span>');
    // the phases' times as data for web.js, which redraws the times and the timeline from the compose's events
    const compose = await test.admin.getCompose(id);
    expect(running).toContain(`<section id="phases" data-start="${compose.startedAt}" data-end="">`);
    expect(running).toContain(`<tr id="phase-init" data-started="${initStarted}" data-completed="${initStarted + 1000}">`);
    expect(running).toMatch(/<tr id="phase-pkgset" data-started="\d+" data-completed="">/);
    expect(running).toContain('<tr id="phase-rootfs" data-started="" data-completed="">');
    expect(running).toContain('<dd id="compose-finished">–</dd>');
    // a pending phase's log link waits, hidden, for the phase to start
    expect(running).toContain(`<a href="/composes/${id}/phases/rootfs/log" hidden>log</a>`);
    expect(running).toContain('<tbody id="image-tasks" data-log="image.log"></tbody>');
    // an image task of the compose (--images-on hub): a row linking the task and its live image.log, and a
    // compose event that tells a page already open about it
    const snapshot = await test.admin.uploadBuffer(Buffer.from("Origin: test\n"));
    const { task: imageTask } = await test.admin.post<{ task: number }>(`/api/v1/composes/${id}/image-tasks`, {
      definitionFile: "demo.yaml",
      definition: "name: demo\n",
      variant: "minimal",
      arch: "amd64",
      snapshot: [{ path: "dists/demo/InRelease", sha256: snapshot.sha256, size: snapshot.size }],
    });
    const queued = await test.admin.get<Array<{ kind: string; data: unknown }>>(`/api/v1/events?type=compose&after=${last!.id}`);
    expect(queued.filter((e) => e.kind === "compose.task").map((e) => e.data)).toEqual([
      { compose: id, task: imageTask, method: "composeImage", variant: "minimal", arch: "amd64" },
    ]);
    const withTask = await (await fetch(`${url}/composes/${id}`)).text();
    expect(withTask).toContain(
      `<tr id="image-task-${imageTask}"><td>minimal/amd64</td><td><a href="/tasks/${imageTask}">#${imageTask}</a></td><td><span class="state state-free">free</span></td><td class="host"></td><td><a href="/tasks/${imageTask}/logs/image.log">image.log</a></td></tr>`,
    );
    // the task's page follows the log the builder streams the image task's command to
    const images = await test.user("imager", ["host"]);
    await images.post("/api/v1/hosts/imager/checkin", { session: "s", arches: ["amd64"], capabilities: ["image"], capacity: 1 });
    await images.post("/api/v1/hosts/imager/claim", { session: "s", waitMs: 0, start: true });
    await images.raw("POST", `/api/v1/hosts/imager/tasks/${imageTask}/logs/image.log?session=s`, {
      body: "rootfs: mmdebstrap\n",
      headers: { "content-type": "text/plain" },
    });
    const taskPage = await (await fetch(`${url}/tasks/${imageTask}`)).text();
    expect(taskPage).toContain(`data-stream="/tasks/${imageTask}/logs/image.log/events"`);
    expect(taskPage).toContain("rootfs: mmdebstrap\n</pre>");
    expect(await (await fetch(`${url}/composes/${id}`)).text()).toContain(
      `<td><span class="state state-open">open</span></td><td class="host">imager</td>`,
    );
    await images.post(`/api/v1/hosts/imager/tasks/${imageTask}/fail`, { session: "s", error: { code: "COMMAND_FAILED", message: "no" } });
    await test.admin.reportComposePhase(id, "pkgset", { status: "done" });
    // each phase event carries the phase's times as recorded (a report without startedAt keeps the running one's)
    const phaseEvents =
      await test.admin.get<Array<{ kind: string; data: { phase: string; startedAt: unknown; completedAt: unknown } }>>(
        `/api/v1/events?type=compose&after=0`,
      );
    const pkgsetEvents = phaseEvents.filter((e) => e.kind === "compose.phase" && e.data.phase === "pkgset").map((e) => e.data);
    expect(pkgsetEvents).toEqual([
      { compose: id, phase: "pkgset", status: "running", startedAt: expect.any(Number), completedAt: null },
      { compose: id, phase: "pkgset", status: "done", startedAt: pkgsetEvents[0]!.startedAt, completedAt: expect.any(Number) },
    ]);
    expect(phaseEvents.find((e) => e.kind === "compose.phase" && e.data.phase === "init")?.data).toMatchObject({
      startedAt: initStarted,
      completedAt: initStarted + 1000,
    });
    await test.admin.reportComposePhase(id, "rootfs", { status: "failed", error: { code: "COMMAND_FAILED", message: hostile } });
    await test.admin.finishCompose(id, {
      status: "DOOMED",
      images: [
        {
          variant: "minimal",
          arch: "amd64",
          kind: hostile,
          path: `compose/${hostile}`,
          digest: `sha256:${"c".repeat(64)}`,
          size: 3 * 1024 * 1024,
        },
      ],
      packages: [
        { variant: "minimal", arch: "amd64", name: "hello", version: "1.0-1", packageArch: "amd64", build: build!.id },
        { variant: "minimal", arch: "amd64", name: "libc6", version: "2.41-12", packageArch: "amd64", build: null },
      ],
      sbom: { "minimal.amd64": { spdxVersion: "SPDX-2.3" } },
      diff: {
        from: "demo-13.0-20261202.0",
        to: id,
        sets: {
          minimal: {
            amd64: {
              added: [{ name: hostile, arch: "amd64", version: "1" }],
              upgraded: [{ name: "libc6", arch: "amd64", from: "2.41-11", to: "2.41-12" }],
            },
          },
        },
        summary: { added: 1, upgraded: 1 },
      },
    });
    for (const page of [
      "/composes",
      `/composes/${id}`,
      `/composes/${id}/phases/init/log`,
      "/composes?status=DOOMED",
      `/composes?name=${encodeURIComponent(hostile)}`,
      "/",
    ]) {
      const response = await fetch(`${url}${page}`);
      const body = await response.text();
      expect(response.status, page).toBe(200);
      expect(body, page).not.toContain("<script>alert");
      expect(body, page).not.toContain("<img src=x");
    }
    const page = await (await fetch(`${url}/composes/${id}`)).text();
    expect(page).toContain('<span class="state state-doomed">DOOMED</span>');
    expect(page).not.toContain("data-watch-compose");
    expect(page).toMatch(
      /<tr id="phase-rootfs" data-started="" data-completed="\d+"><td>rootfs<\/td><td><span class="state state-failed" data-phase="rootfs">failed<\/span>/,
    );
    expect(page).toMatch(/<section id="phases" data-start="\d+" data-end="\d+">/);
    expect(page).toContain("<code>COMMAND_FAILED</code> &lt;script&gt;");
    expect(page).toContain(`<a href="/composes/${id}/phases/init/log">log</a>`);
    expect(page).toContain(`sha256:${"c".repeat(64)}`);
    expect(page).toContain("3.0 MiB");
    expect(page).toContain(`<a href="/builds/${build!.id}">hello 1.0-1</a>`);
    expect(page).toContain("<td>upgraded</td><td>libc6</td><td>amd64</td><td>2.41-11</td><td>2.41-12</td>");
    expect(page).toContain('<a href="/composes/demo-13.0-20261202.0">demo-13.0-20261202.0</a>');
    expect(page).toContain(`<a href="/api/v1/composes/${id}/sbom">`);
    expect(await (await fetch(`${url}/composes/${id}/phases/init/log`)).text()).toContain("&lt;script&gt;alert(&quot;x&quot;)");
    for (const listing of ["/composes", "/"])
      expect(await (await fetch(`${url}${listing}`)).text(), listing).toContain(`<a href="/composes/${id}">${id}</a>`);
    expect(await (await fetch(`${url}/composes?status=FINISHED`)).text()).toContain("No compose matches.");
    expect((await fetch(`${url}/composes/no-such-compose`)).status).toBe(404);
    expect((await fetch(`${url}/composes/${id}/phases/nothing/log`)).status).toBe(404);
    expect((await fetch(`${url}/composes/..%2Fhub.db`)).status).toBe(400);
  }, 60_000);

  it("shows where a compose was published: the channel as a link, ref, commit, static delta; never an unsafe URL as a link", async () => {
    test = await startTestHub(databases, kind);
    const { db } = test.hub.ctx;
    const url = test.hub.url;
    const id = "demo-13.0-20261203.5";
    await test.admin.createCompose({ id, name: "demo", definition: "name: demo\n", phases: ["init", "publish"] });
    expect(await (await fetch(`${url}/composes/${id}`)).text()).toContain("Not published yet.");
    const [amd64, arm64] = ["a".repeat(64), "b".repeat(64)] as const;
    await test.admin.finishCompose(id, {
      status: "FINISHED",
      published: {
        url: "https://updates.example.org/demo/?a=1&b=2",
        commits: [
          { variant: "minimal", arch: "amd64", ref: "demo/amd64/minimal", commit: amd64, delta: true, changed: true },
          { variant: "minimal", arch: "arm64", ref: "demo/arm64/minimal", commit: arm64, delta: false, changed: false },
        ],
      },
    });
    const page = await (await fetch(`${url}/composes/${id}`)).text();
    const link =
      '<a href="https://updates.example.org/demo/?a=1&amp;b=2" rel="noopener noreferrer nofollow">https://updates.example.org/demo/?a=1&amp;b=2</a>';
    expect(page).toContain("<h2>Published</h2>");
    expect(page).toContain(
      `<tr><td>minimal/amd64</td><td>${link}</td><td><code>demo/amd64/minimal</code></td><td class="hash"><span title="${amd64}">${amd64.slice(0, 12)}</span></td><td>static delta</td></tr>`,
    );
    expect(page).toContain(
      `<tr><td>minimal/arm64</td><td>${link}</td><td><code>demo/arm64/minimal</code></td><td class="hash"><span title="${arm64}">${arm64.slice(0, 12)}</span></td><td>already published</td></tr>`,
    );
    // what the hub refuses at its edge, had it been stored (an older hub, a hand-edited database): shown, never linked
    const stored = (published: object) =>
      db
        .updateTable("composes")
        .set({ published: JSON.stringify(published) })
        .where("compose_id", "=", id)
        .execute();
    const commit = { variant: "minimal", arch: "amd64", ref: hostile, commit: amd64, delta: false, changed: true };
    for (const unsafe of ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "file:///etc/passwd"]) {
      await stored({ url: unsafe, commits: [commit] });
      const shown = await (await fetch(`${url}/composes/${id}`)).text();
      expect(shown, unsafe).not.toMatch(/href="(javascript|data|file):/);
      expect(shown, unsafe).not.toContain("<script>alert");
      expect(shown, unsafe).toContain("<code>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    }
    await stored({ url: null, commits: [commit] });
    expect(await (await fetch(`${url}/composes/${id}`)).text()).toContain('<span class="muted">a channel with no http(s) URL</span>');
    // a compose whose definition names no channel
    const other = "demo-13.0-20261203.6";
    await test.admin.createCompose({ id: other, name: "demo", definition: "name: demo\n" });
    await test.admin.finishCompose(other, { status: "FINISHED" });
    expect(await (await fetch(`${url}/composes/${other}`)).text()).toContain("Not published: the definition names no update channel");
  }, 60_000);

  it("keeps the pages private when reads are not public, but lets anyone log in", async () => {
    test = await startTestHub(databases, kind, { publicRead: false });
    const url = test.hub.url;
    const overview = await fetch(`${url}/tasks?state=free`);
    expect(overview.status).toBe(401);
    const body = await overview.text();
    expect(body).toContain('action="/login?next=%2Ftasks%3Fstate%3Dfree"'); // the login form, coming back here
    expect(body).toMatch(/<style nonce="[^"]+">/);
    expect(body).not.toContain("No task matches");
    // nothing but the login form (whose stylesheet is inline) is served to a browser without a session
    expect((await fetch(`${url}/static/web.css`)).status).toBe(401);
    const cookie = await login(url, test.adminToken);
    expect((await fetch(`${url}/static/web.css`, { headers: { cookie } })).status).toBe(200);
    // the page's script carries the server's formatters and labels (one definition with the server's), and parses as a whole
    const script = await (await fetch(`${url}/static/web.js`, { headers: { cookie } })).text();
    expect(script.match(/^function (format(Duration|Time)|imageTaskLabel)\(/gm)).toEqual([
      "function formatDuration(",
      "function formatTime(",
      "function imageTaskLabel(",
    ]);
    expect(() => new Function(script)).not.toThrow();
    const shared = new Function(
      `${script.slice(0, script.indexOf("// deb-orchestrator web UI"))}; return { formatDuration, formatTime, imageTaskLabel };`,
    )();
    expect(shared.formatDuration(61_000)).toBe("1 min 1 s");
    expect(shared.formatTime(Date.UTC(2025, 2, 1, 14, 5, 9))).toBe("2025-03-01 14:05:09 UTC");
    expect(shared.imageTaskLabel("diskImage", "base", "amd64")).toBe("base/amd64 disk images");
    expect(shared.imageTaskLabel("composeImage", "base", "amd64")).toBe("base/amd64");
    expect(shared.imageTaskLabel("toString", "base", "amd64")).toBe("base/amd64");
    const after = await fetch(`${url}/tasks?state=free`, { headers: { cookie } });
    expect(after.status).toBe(200);
    expect(await after.text()).toContain("No task matches");
    const logout = await post(
      url,
      "/logout",
      { _csrf: csrfOf(await (await fetch(`${url}/`, { headers: { cookie } })).text()) },
      { cookie },
    );
    expect(logout.status).toBe(303);
    expect(logout.headers.getSetCookie()[0]).toMatch(/^dob_session=; .*Max-Age=0/);
  });

  it("samples queue length and utilisation over the window from the tasks' times", async () => {
    test = await startTestHub(databases, kind);
    const db = test.hub.ctx.db;
    const hour = 3_600_000;
    const now = Date.UTC(2025, 0, 2);
    const user = await db.selectFrom("users").select("id").executeTakeFirstOrThrow();
    await db
      .insertInto("hosts")
      .values({
        name: "h",
        user_id: user.id,
        arches: "amd64",
        capacity: 2,
        enabled: 1,
        last_checkin: now,
        load: 0,
        session: null,
        created_at: now,
      })
      .execute();
    const task = (state: string, created: number, started: number | null, completed: number | null) => ({
      parent_id: null,
      label: null,
      method: "noop",
      arch: "amd64",
      state,
      priority: 20,
      weight: 1,
      owner_id: user.id,
      request: "{}",
      attempts: 0,
      created_at: now + created * hour,
      started_at: started === null ? null : now + started * hour,
      completed_at: completed === null ? null : now + completed * hour,
    });
    await db
      .insertInto("tasks")
      .values(task("open", -11, -10, null))
      .execute(); // running since long before the window
    await db
      .insertInto("tasks")
      .values(task("closed", -3.5, -2.5, -0.5))
      .execute();
    await db
      .insertInto("tasks")
      .values(task("free", -1.5, null, null))
      .execute();
    const timeline = await readTimeline(db, now, 4 * hour, 4);
    expect(timeline.queued).toEqual([0, 1, 0, 1, 1]);
    expect(timeline.running).toEqual([1, 1, 2, 2, 1]);
    expect(timeline.utilisation).toEqual([50, 50, 100, 100, 50]);
    expect(await firstTaskSince(db, now - 4 * hour)).toBe(2);
  });

  it("lets a logged-in browser follow a private hub's event stream and read its API, never change it", async () => {
    test = await startTestHub(databases, kind, { publicRead: false });
    const url = test.hub.url;
    const id = await noopTask(test.admin);
    const stream = `${url}/api/v1/events/stream?type=task&object=${id}&after=0`;
    expect((await fetch(stream)).status).toBe(401);
    const cookie = await login(url, test.adminToken);
    const controller = new AbortController();
    const response = await fetch(stream, { headers: { cookie }, signal: controller.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = response.body!.getReader();
    let text = "";
    const readUntil = async (marker: string) => {
      const deadline = Date.now() + 10_000;
      while (!text.includes(marker)) {
        if (Date.now() > deadline) throw new Error(`no ${marker} in ${text}`);
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended without ${marker}`);
        text += Buffer.from(value).toString("utf8");
      }
    };
    await readUntil("event: task.created");
    // what the task page's script waits for: the state change, live
    await test.admin.post(`/api/v1/tasks/${id}/cancel`);
    await readUntil('"state":"canceled"');
    controller.abort();
    expect((await fetch(`${url}/api/v1/tasks/${id}`, { headers: { cookie } })).status).toBe(200);
    // the cookie never authorises a change: mutations need the Authorization header
    const mutation = await fetch(`${url}/api/v1/tasks`, {
      method: "POST",
      headers: { cookie, "content-type": "application/json" },
      body: JSON.stringify({ method: "noop", arch: "amd64" }),
    });
    expect(mutation.status).toBe(401);
    // a cookie that is not a valid session reads nothing
    expect((await fetch(stream, { headers: { cookie: "dob_session=dos_not-a-real-session-at-all" } })).status).toBe(401);
    // nor does the API token itself as a cookie
    expect((await fetch(stream, { headers: { cookie: `dob_session=${test.adminToken}` } })).status).toBe(401);
  });

  it("keeps web sessions apart from API tokens: logout, token revocation and expiry end them", async () => {
    test = await startTestHub(databases, kind, { publicRead: false });
    const url = test.hub.url;
    const id = await noopTask(test.admin);
    const reads = async (cookie: string) => (await fetch(`${url}/api/v1/tasks/${id}`, { headers: { cookie } })).status;
    // the session cookie is no API token: it authenticates nothing as a Bearer token
    const cookie = await login(url, test.adminToken);
    expect(await reads(cookie)).toBe(200);
    expect((await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${cookie.split("=")[1]}` } })).status).toBe(401);
    // logging out closes the session: the same cookie, replayed, reads nothing and shows no page
    const page = await (await fetch(`${url}/tasks/${id}`, { headers: { cookie } })).text();
    expect((await post(url, "/logout", { _csrf: csrfOf(page) }, { cookie })).status).toBe(303);
    expect(await reads(cookie)).toBe(401);
    expect(await (await fetch(`${url}/tasks/${id}`, { headers: { cookie } })).text()).not.toContain("Log out");
    // the API token itself still works: logging out of a browser does not revoke it
    expect((await test.admin.get<{ name: string }>("/api/v1/whoami")).name).toBe("admin");

    // a session ends with the token it was opened with
    const { token, id: tokenId } = await test.admin.post<{ token: string; id: number }>("/api/v1/users/admin/tokens", { label: "web" });
    const second = await login(url, token);
    expect(await reads(second)).toBe(200);
    await test.admin.post(`/api/v1/tokens/${tokenId}/revoke`);
    expect(await reads(second)).toBe(401);

    // tokens can expire; `token list` shows when, and an expired token (and its sessions) is refused
    const soon = Date.now() + 3_600_000;
    const expiring = await test.admin.post<{ token: string; id: number; expiresAt: number }>("/api/v1/users/admin/tokens", {
      expiresAt: soon,
    });
    expect(expiring.expiresAt).toBe(soon);
    const listed = await test.admin.get<{ id: number; expiresAt: number | null }[]>("/api/v1/users/admin/tokens");
    expect(listed.find((t) => t.id === expiring.id)?.expiresAt).toBe(soon);
    expect(listed.find((t) => t.id === tokenId)?.expiresAt).toBeNull();
    const third = await login(url, expiring.token);
    expect(await reads(third)).toBe(200);
    await test.hub.ctx.db
      .updateTable("tokens")
      .set({ expires_at: Date.now() - 1 })
      .where("id", "=", expiring.id)
      .execute();
    test.hub.ctx.principals.clear();
    expect(await reads(third)).toBe(401);
    const bearer = await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${expiring.token}` } });
    expect(bearer.status).toBe(401);
    await expect(test.admin.post("/api/v1/users/admin/tokens", { expiresAt: Date.now() - 1000 })).rejects.toMatchObject({
      code: "REQUEST_INVALID",
    });
    // a session that ran out is refused although its cookie may still be sent
    const fourth = await login(url, test.adminToken);
    await test.hub.ctx.db
      .updateTable("web_sessions")
      .set({ expires_at: Date.now() - 1 })
      .execute();
    test.hub.ctx.principals.clear();
    expect(await reads(fourth)).toBe(401);
  });

  it("sends the browser only to paths of this site after login, and answers odd ones without a 500", async () => {
    test = await startTestHub(databases, kind);
    const url = test.hub.url;
    const form = await fetch(`${url}/login`);
    const nonce = /dob_login=([^;]+)/.exec(form.headers.getSetCookie().join("\n"))![1]!;
    const nexts = [
      "/\t/evil.example",
      "/\x0b",
      "/\n/evil.example",
      "/\\evil.example",
      "//evil.example",
      "/.//evil.example",
      "https://evil.example/",
    ];
    for (const ch of [0, 9, 10, 11, 12, 13, 32, 127])
      nexts.push(`/${String.fromCharCode(ch)}/evil.example`, `/a${String.fromCharCode(ch)}b`);
    for (const next of nexts) {
      const response = await post(
        url,
        `/login?next=${encodeURIComponent(next)}`,
        { dob_login: nonce, token: test.adminToken },
        { cookie: `dob_login=${nonce}` },
      );
      expect(`${JSON.stringify(next)} ${response.status}`).toBe(`${JSON.stringify(next)} 303`);
      const target = new URL(response.headers.get("location")!, url);
      expect(`${JSON.stringify(next)} ${target.origin}`).toBe(`${JSON.stringify(next)} ${new URL(url).origin}`);
      expect(response.headers.get("location")).toMatch(/^\/(?!\/)/);
    }
  });

  it("can keep the pages private while the JSON API stays public", async () => {
    test = await startTestHub(databases, kind, { webPublicRead: false });
    expect((await fetch(`${test.hub.url}/`)).status).toBe(401);
    expect((await fetch(`${test.hub.url}/api/v1/tasks`)).status).toBe(200);
  });
});

class QueryCounter implements KyselyPlugin {
  count = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.count++;
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

/** The web UI on its own Fastify instance over the hub's context, with every query counted. */
async function countingWebUi(test: TestHub) {
  const counter = new QueryCounter();
  const app = Fastify();
  app.decorateRequest("principal", undefined);
  await registerWebUi(app, { ...test.hub.ctx, db: test.hub.ctx.db.withPlugin(counter) }, { publicRead: true });
  await app.ready();
  return {
    counter,
    app,
    async load(url: string): Promise<{ queries: number; ms: number; bytes: number }> {
      counter.count = 0;
      const start = performance.now();
      const response = await app.inject({ method: "GET", url });
      const ms = performance.now() - start;
      expect(response.statusCode, url).toBe(200);
      return { queries: counter.count, ms, bytes: response.body.length };
    },
  };
}

async function pageCosts(test: TestHub, kind: DatabaseKind, count: number, extra: Record<string, string> = {}) {
  const seed = await bulkSeed(test.hub.ctx, count);
  const web = await countingWebUi(test);
  const pages = {
    overview: "/",
    builds: "/builds",
    "builds page 3": "/builds?page=3",
    "failed builds": "/builds?state=failed",
    tasks: "/tasks",
    "tasks of a package": `/tasks?package=${seed.samplePackage}`,
    "failed tasks": "/tasks?state=failed",
    packages: "/packages",
    package: `/packages/${seed.samplePackage}`,
    build: `/builds/${seed.sampleBuild}`,
    task: `/tasks/${seed.sampleTask}`,
    tag: `/tags/${seed.tag}`,
    hosts: "/hosts",
    search: "/search?q=pkg-00",
    ...extra,
  };
  const costs: Record<string, { queries: number; ms: number; bytes: number }> = {};
  for (const [name, url] of Object.entries(pages)) {
    await web.load(url); // warm
    const runs = [];
    for (let i = 0; i < 5; i++) runs.push(await web.load(url));
    runs.sort((a, b) => a.ms - b.ms);
    costs[name] = { ...runs[2]!, ms: Math.round(runs[2]!.ms * 10) / 10 };
  }
  await web.app.close();
  console.info(
    `web pages on ${kind} with ${count} builds (${seed.tasks} tasks): median of 5 renders\n${Object.entries(costs)
      .map(([name, c]) => `  ${name.padEnd(20)} ${String(c.queries).padStart(3)} queries ${String(c.ms).padStart(7)} ms ${c.bytes} bytes`)
      .join("\n")}`,
  );
  return costs;
}

describe.each(databaseKinds)("web pages with 10,000 builds on %s", (kind) => {
  let test: TestHub | undefined;
  afterEach(async () => {
    await test?.close();
    test = undefined;
  });

  it("render with a number of queries that does not grow with the history", async () => {
    test = await startTestHub(databases, kind);
    const small = await pageCosts(test, kind, 200);
    await test.close();
    test = await startTestHub(databases, kind);
    const large = await pageCosts(test, kind, 10_000, { "builds page 150": "/builds?page=150", "tasks page 400": "/tasks?page=400" });
    expect(large["builds page 150"]!.queries).toBe(large["builds page 3"]!.queries);
    for (const [name, cost] of Object.entries(large)) {
      if (!small[name]) continue;
      // the overview's search for the first task of the last two days is a binary search: log2(tasks) lookups
      const allowance = name === "overview" ? 10 : 0;
      expect(cost.queries, name).toBeLessThanOrEqual(small[name]!.queries + allowance);
      expect(cost.queries, name).toBeLessThanOrEqual(40);
    }
    // the pages are paginated: a list page does not grow with the data either
    expect(large.builds!.bytes).toBeLessThan(60_000);
    expect(large.tasks!.bytes).toBeLessThan(60_000);
  }, 300_000);
});
