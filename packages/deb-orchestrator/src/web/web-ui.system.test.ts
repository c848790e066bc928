import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, newPage as openPage, screenshot } from "../../../../test/browser.js";
import { until } from "../testing/test-builds.js";
import { startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";
import { formatTime } from "./html.js";

/** The little of the DOM that page.evaluate callbacks touch (they run in the browser; this program has no DOM lib). */
interface BrowserElement {
  textContent: string | null;
  scrollWidth: number;
  clientWidth: number;
  dataset: Record<string, string | undefined>;
}
declare const document: {
  activeElement: BrowserElement | null;
  documentElement: BrowserElement;
  getElementById(id: string): BrowserElement | null;
  cookie: string;
};

import { type SeededHub, seedHub, startRunningBuild } from "./__fixtures__/seed-hub.js";

/*
 * The web UI in a real browser: Debian's chromium (apt-get install chromium), driven headless by
 * playwright-core (no browser download; test/browser.ts), against a hub seeded through its API with
 * builds made by a builder. Screenshots go to artifacts/screenshots/ at the repository root.
 */

const databases = useDatabases();

describe("web UI in chromium", () => {
  let test: TestHub;
  let seeded: SeededHub;
  let running: { top: number; arch: number };
  let browser: Browser;

  beforeAll(async () => {
    test = await startTestHub(databases, "sqlite", { leaseMs: 60_000 });
    seeded = await seedHub(test);
    running = await startRunningBuild(test, seeded);
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    for (const builder of seeded?.builders ?? []) await builder.stop(100);
    await test?.close();
  }, 60_000);

  const newPage = (options: { colorScheme?: "light" | "dark"; phone?: boolean } = {}): Promise<Page> =>
    openPage(browser, test.hub.url, options);

  it("shows the overview: running and queued work, builders, recent builds, failures, the load plot", async () => {
    const page = await newPage();
    const response = await page.goto("/");
    expect(response?.status()).toBe(200);
    await expect(page.locator("h1").textContent()).resolves.toBe("Overview");
    const runningTable = page.locator("section", { has: page.locator("h2", { hasText: "Running tasks" }) });
    await expect(runningTable.locator(`a[href="/tasks/${running.arch}"]`).count()).resolves.toBe(1);
    const builders = page.locator("section", { has: page.locator("h2", { hasText: "Builders" }) });
    await expect(builders.textContent()).resolves.toContain("builder-2");
    const failures = page.locator("section", { has: page.locator("h2", { hasText: "Failures of the last 24 hours" }) });
    await expect(failures.textContent()).resolves.toContain("broken");
    await expect(page.locator("figure.plot svg path.line").count()).resolves.toBeGreaterThanOrEqual(2);
    await screenshot(page, "overview");
    // keyboard: the first Tab reaches the skip link, the next ones the navigation
    await page.keyboard.press("Tab");
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe("Skip to content");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe("Overview");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Enter");
    await page.waitForURL("**/tasks");

    const phone = await newPage({ phone: true, colorScheme: "dark" });
    await phone.goto("/");
    // nothing overflows the phone's width but the scrollable tables
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(1);
    await screenshot(phone, "overview-phone-dark");
    await phone.context().close();
    await page.context().close();
  });

  it("follows a running task from the overview to its live log and sees new lines arrive", async () => {
    const page = await newPage();
    await page.goto("/");
    await page.locator(`section:has(h2:text("Running tasks")) a[href="/tasks/${running.arch}"]`).click();
    await page.waitForURL(`**/tasks/${running.arch}`);
    await expect(page.locator(".why").textContent()).resolves.toContain("Running on builder 'builder-2'");
    const log = page.locator("pre#log");
    await page.waitForFunction(() => document.getElementById("log-status")?.textContent?.startsWith("Following"));
    const before = Number(await log.getAttribute("data-lines"));
    // the noop runner writes a line about every second: two more must arrive through the event stream
    await page.waitForFunction((n) => Number(document.getElementById("log")?.dataset.lines) >= n + 2, before, { timeout: 20_000 });
    const text = await log.textContent();
    expect(text).toContain("noop build of zstd 1.5.7-1 on amd64");
    expect(text).toMatch(/step \d+\/\d+\n$/);
    await screenshot(page, "task-live-log");
    await page.context().close();
  });

  it("refuses an anonymous visitor: no cancel button, and a forged POST is turned away", async () => {
    const page = await newPage();
    await page.goto(`/tasks/${running.arch}`);
    await expect(page.getByRole("button", { name: "Cancel task" }).count()).resolves.toBe(0);
    await expect(page.getByRole("link", { name: "Log in" }).first().isVisible()).resolves.toBe(true);
    const status = await page.evaluate(async (id) => {
      const response = await fetch(`/tasks/${id}/cancel`, { method: "POST", body: new URLSearchParams({ _csrf: "guess" }) });
      return response.status;
    }, running.arch);
    expect(status).toBe(401);
    await page.goto(`/tasks/${running.arch}`);
    await expect(page.locator("#task-state").textContent()).resolves.toBe("open");
    const task = await test.admin.get<{ state: string }>(`/api/v1/tasks/${running.arch}`);
    expect(task.state).toBe("open");
    await page.context().close();
  });

  it("logs in with a token and cancels the running build as its owner's admin", async () => {
    const page = await newPage();
    await page.goto(`/tasks/${running.top}`);
    await page.getByRole("link", { name: "Log in" }).first().click();
    await page.waitForURL("**/login?next=*");
    await screenshot(page, "login", false);
    await page.getByLabel("API token").fill(test.adminToken);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(`**/tasks/${running.top}?done=login`);
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === "dob_session");
    expect(session).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });
    expect(await page.evaluate(() => document.cookie)).not.toContain("dob_session"); // no script can read it
    await expect(page.locator(".who").textContent()).resolves.toContain("admin");
    await page.getByRole("button", { name: "Cancel task" }).click();
    await page.waitForURL(`**/tasks/${running.top}?done=canceled`);
    await expect(page.locator(".flash.ok").textContent()).resolves.toBe("Task canceled.");
    await expect(page.locator("dl.facts .state").first().textContent()).resolves.toBe("canceled");
    await until(
      async () => (await test.admin.get<{ state: string }>(`/api/v1/tasks/${running.arch}`)).state === "canceled",
      10_000,
      "cancel",
    );
    await screenshot(page, "task-canceled");
    await page.context().close();
  });

  it("on a private hub, a logged-in task page follows the task's state live through the API's event stream", async () => {
    const hidden = await startTestHub(databases, "sqlite", { publicRead: false });
    const context = await browser.newContext({ baseURL: hidden.hub.url, viewport: { width: 1366, height: 900 } });
    try {
      const { task } = await hidden.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "s390x" });
      const page = await context.newPage();
      expect((await page.goto(`/tasks/${task}`))?.status()).toBe(401);
      await page.getByLabel("API token").fill(hidden.adminToken);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.waitForURL(`**/tasks/${task}?done=login`);
      await expect(page.locator("#task-state").textContent()).resolves.toBe("free");
      // the page's EventSource sends only the session cookie; the state must change without a reload
      await until(async () => hidden.hub.ctx.bus.listenerCount("changed") > 0, 10_000, "the page's event stream to connect");
      await hidden.admin.post(`/api/v1/tasks/${task}/cancel`);
      await page.waitForFunction(() => document.getElementById("task-state")?.textContent === "canceled", undefined, { timeout: 10_000 });
      await expect(page.locator("#task-changed").isVisible()).resolves.toBe(true);
      await screenshot(page, "task-private-live-state", false);
    } finally {
      await context.close();
      await hidden.close();
    }
  });

  it("follows a running compose's page (an image task appears and runs) to FINISHED, then shows its phases, images, packages with their builds and diff", async () => {
    const id = "debian-bootc-minimal-13.0-20261203.0";
    const phases = ["init", "pkgset", "gather", "metadata"];
    await test.admin.createCompose({
      id,
      name: "debian-bootc-minimal",
      definition: "name: debian-bootc-minimal\nversion: '13.0'\n",
      phases,
    });
    const start = Date.now();
    await test.admin.reportComposePhase(id, "init", { status: "done", startedAt: start - 9000, completedAt: start - 8500 });
    await test.admin.reportComposePhase(id, "pkgset", { status: "running", startedAt: start - 8000 });
    const page = await newPage();
    await page.goto("/");
    await page.locator(`section:has(h2:text("Recent composes")) a[href="/composes/${id}"]`).click();
    await page.waitForURL(`**/composes/${id}`);
    await expect(page.locator("#compose-status").textContent()).resolves.toBe("STARTED");
    await page.waitForFunction(() => document.getElementById("compose-status")?.dataset.live === "1", undefined, { timeout: 10_000 });
    await screenshot(page, "compose-running");
    // each phase's badge and then the compose's status change on the page without a reload
    await test.admin.reportComposePhase(id, "pkgset", {
      status: "done",
      startedAt: start - 8000,
      completedAt: start - 3000,
      log: "resolved 160 packages\n",
    });
    await page.waitForFunction(() => document.getElementById("phase-pkgset")?.textContent?.includes("done"), undefined, {
      timeout: 10_000,
    });
    // and its Started and Took cells, and its bar ends where it did
    await page.locator('#phase-pkgset td:nth-child(4):text-is("5 s")').waitFor({ timeout: 10_000 });
    await expect(page.locator("#phase-pkgset td:nth-child(3)").textContent()).resolves.toBe(formatTime(start - 8000));
    await expect(page.locator("#phase-pkgset span.timeline").getAttribute("aria-label")).resolves.toBe("pkgset: 5 s");
    // an image task queued for the compose (--images-on hub) appears on the open page, then its builder
    await expect(page.locator("#image-tasks-none").isVisible()).resolves.toBe(true);
    const snapshot = await test.admin.uploadBuffer(Buffer.from("Origin: test\n"));
    const { task: imageTask } = await test.admin.post<{ task: number }>(`/api/v1/composes/${id}/image-tasks`, {
      definitionFile: "minimal.yaml",
      definition: "name: debian-bootc-minimal\n",
      variant: "minimal",
      arch: "amd64",
      snapshot: [{ path: "dists/trixie/InRelease", sha256: snapshot.sha256, size: snapshot.size }],
    });
    const row = page.locator(`#image-task-${imageTask}`);
    await row.locator('.state:text-is("free")').waitFor({ timeout: 10_000 });
    await expect(page.locator("#image-tasks-none").isVisible()).resolves.toBe(false);
    const imager = await test.user("imager", ["host"]);
    await imager.post("/api/v1/hosts/imager/checkin", { session: "s", arches: ["amd64"], capabilities: ["image"], capacity: 1 });
    await imager.post("/api/v1/hosts/imager/claim", { session: "s", waitMs: 0, start: true });
    await row.locator('td.host:text-is("imager")').waitFor({ timeout: 10_000 });
    await expect(row.locator(".state").textContent()).resolves.toBe("open");
    await expect(row.getByRole("link", { name: "image.log" }).getAttribute("href")).resolves.toBe(`/tasks/${imageTask}/logs/image.log`);
    await imager.post(`/api/v1/hosts/imager/tasks/${imageTask}/complete`, { session: "s" });
    await row.locator('.state:text-is("closed")').waitFor({ timeout: 10_000 });
    await test.admin.reportComposePhase(id, "gather", { status: "skipped" });
    await test.admin.reportComposePhase(id, "metadata", { status: "done", startedAt: start - 2000, completedAt: start - 1000 });
    const [hello] = await test.admin.listBuilds({ name: "hello" });
    await test.admin.finishCompose(id, {
      status: "FINISHED",
      images: [
        {
          variant: "minimal",
          arch: "amd64",
          kind: "oci",
          path: "compose/minimal/amd64/oci",
          digest: `sha256:${"d".repeat(64)}`,
          size: 187_654_321,
        },
      ],
      packages: [
        { variant: "minimal", arch: "amd64", name: "hello", version: hello!.version, packageArch: "amd64", build: hello!.id },
        { variant: "minimal", arch: "amd64", name: "systemd", version: "257.9-1~deb13u1", packageArch: "amd64", build: null },
      ],
      sbom: { "minimal.amd64": { spdxVersion: "SPDX-2.3" } },
      diff: {
        from: "debian-bootc-minimal-13.0-20261202.0",
        to: id,
        sets: { minimal: { amd64: { upgraded: [{ name: "hello", arch: "amd64", from: "2.10-2", to: hello!.version }] } } },
        summary: { upgraded: 1 },
      },
    });
    await page.waitForFunction(() => document.getElementById("compose-status")?.textContent === "FINISHED", undefined, { timeout: 10_000 });
    await expect(page.locator("#compose-changed").isVisible()).resolves.toBe(true);
    // the phases' timeline and the compose's end without a reload: metadata's bar came with its event
    await expect(page.locator("span.timeline rect.bar").count()).resolves.toBe(3);
    await expect(page.locator("#phase-metadata span.timeline").getAttribute("aria-label")).resolves.toBe("metadata: 1 s");
    await expect(page.locator("#compose-finished").textContent()).resolves.toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC took /);
    await page.locator("#compose-changed a").click();
    await expect(page.locator("dl.facts .state").first().textContent()).resolves.toBe("FINISHED");
    await expect(page.locator("tr[id^=phase-] td:first-child").allTextContents()).resolves.toEqual(phases);
    await expect(page.locator("span.timeline rect.bar").count()).resolves.toBe(3);
    const images = page.locator("section", { has: page.locator("h2", { hasText: "Images" }) });
    await expect(images.locator("td.hash").textContent()).resolves.toBe(`sha256:${"d".repeat(64)}`);
    await page
      .getByRole("link", { name: `hello ${hello!.version}` })
      .first()
      .waitFor();
    await screenshot(page, "compose");
    await page.locator('a[href$="/phases/pkgset/log"]').click();
    await expect(page.locator("pre.log").textContent()).resolves.toBe("resolved 160 packages\n");
    await page.goto("/composes");
    await screenshot(page, "composes", false);
    await page.context().close();
  });

  it("finds a build by search and shows its binaries, checksums, tags and history", async () => {
    const page = await newPage();
    await page.goto("/");
    await page.getByRole("searchbox").fill("hello");
    await page.keyboard.press("Enter");
    await page.waitForURL("**/search?q=hello");
    await screenshot(page, "search");
    await page.getByRole("link", { name: "hello 2.10-3" }).click();
    await expect(page.locator("h1").textContent()).resolves.toContain("hello 2.10-3");
    const binaries = page.locator("section", { has: page.locator("h2", { hasText: "Binaries" }) });
    await expect(binaries.getByRole("link", { name: "hello_2.10-3_amd64.deb" }).count()).resolves.toBe(1);
    await expect(binaries.locator("td.hash").first().textContent()).resolves.toMatch(/^[0-9a-f]{64}$/);
    await expect(page.locator("dl.facts").textContent()).resolves.toContain("trixie-candidate");
    // the download link serves the .deb itself
    const href = await binaries.getByRole("link", { name: "hello_2.10-3_amd64.deb" }).getAttribute("href");
    const deb = Buffer.from(await (await fetch(`${test.hub.url}${href}`)).arrayBuffer());
    expect(deb.subarray(0, 8).toString("latin1")).toBe("!<arch>\n");
    await screenshot(page, "build");

    await page.getByRole("link", { name: "hello", exact: true }).first().click();
    await page.waitForURL("**/packages/hello");
    await expect(page.locator("figure.plot circle.dot").count()).resolves.toBe(3);
    await screenshot(page, "package-durations");
    await page.goto("/tags/trixie-updates");
    await expect(page.locator("svg.chain text").allTextContents()).resolves.toEqual(
      expect.arrayContaining(["trixie-updates", "trixie-candidate", "priority 0", "priority 10"]),
    );
    await screenshot(page, "tag-inheritance");
    await page.goto("/repositories");
    await expect(page.locator("main").textContent()).resolves.toMatch(/signed with the OpenPGP key [0-9A-F]{4}( [0-9A-F]{4}){9}/);
    await screenshot(page, "repositories");
    await page.context().close();
  });
});
