/**
 * System tier, end to end: `deb-bootc-compose compose DEF --hub URL --images-on hub` against a hub in this
 * process (SQLite) and a real builder with the `build` and `image` capabilities: it builds the example's
 * branding package (the no-op runner: a real but tiny .deb) and runs `deb-bootc-compose image-task` for the
 * composeImage task. The minimal definition's minimal variant (outputs ostree, oci, ociarchive, qcow2, plus
 * the branding package) ends FINISHED: its images.json lists the OCI archive and the disk image the builder
 * made, the commit is in the compose's repository, and the hub has the compose FINISHED. While it runs, a
 * headless chromium (test/browser.ts) goes from the hub's overview to the compose's page and follows it
 * without reloading: the image task appears with its builder, its live image.log grows, the phases move,
 * the status turns FINISHED; reloaded, the page lists the images with digests and sizes and the packages
 * with the branding package's build. Screenshots in artifacts/screenshots/. A private rootfs cache; the
 * machine's .debs and indexes. Needs root, mmdebstrap, bubblewrap, skopeo, chromium; several minutes.
 */
import { existsSync } from "node:fs";
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Output, runCli } from "@debian-bootc/core";
import { HubClient } from "@debian-bootc/deb-orchestrator";
import { Builder, ComposeCliImageRunner, NoopBuildRunner, type RunningHub, startHub } from "@debian-bootc/deb-orchestrator/local";
import type { Browser, Page } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { hasChromium, launchBrowser, newPage, screenshot } from "../../../../test/browser.js";
import { until } from "../../../deb-orchestrator/src/testing/test-builds.js";
import type { ComposeResult } from "../compose/phase-engine.js";
import { tool } from "../tool.js";
import { cacheWithPrivateRootfs, minimalVariantDefinition } from "./__fixtures__/minimal-compose.js";

const tools = ["/usr/bin/mmdebstrap", "/usr/bin/bwrap", "/usr/bin/skopeo"];
const ready = Boolean(process.env.CI) || (process.getuid?.() === 0 && tools.every((t) => existsSync(t)) && hasChromium());
const cli = join(import.meta.dirname, "..", "cli.ts");
const branding = join(import.meta.dirname, "..", "..", "..", "..", "examples", "branding");
/** Generous: the compose runs for minutes on a shared machine; nothing here measures time. */
const MINUTES = 60_000;

describe.skipIf(!ready)("a compose with its image phases on a hub's builder", () => {
  let work = "";
  let hub: RunningHub | undefined;
  let builder: Builder | undefined;
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
    await builder?.stop(5000);
    await hub?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("is FINISHED with the OCI archive and the disk image the builder made", { timeout: 1_800_000 }, async () => {
    work = await mkdtemp(join(tmpdir(), "images-on-hub-"));
    // the sandbox's root (an unprivileged id of the range) must be able to enter it
    await chmod(work, 0o755);
    const cacheDir = await cacheWithPrivateRootfs(work);

    hub = await startHub({ db: `sqlite:${join(work, "hub.db")}`, dataDir: join(work, "hub"), buildBase: false });
    const adminToken = (await readFile(hub.adminTokenFile, "utf8")).trim();
    const tokenFile = join(work, "token");
    await writeFile(tokenFile, adminToken);
    const admin = new HubClient({ url: hub.url, token: adminToken });
    await admin.createUser("imager", ["host"]);
    const { token } = await admin.createToken("imager", { label: "test" });
    const builderDir = join(work, "builder");
    await mkdir(builderDir, { mode: 0o755 });
    builder = new Builder({
      client: new HubClient({ url: hub.url, token }),
      name: "imager",
      arches: ["amd64"],
      capabilities: ["build", "image"],
      capacity: 1,
      runner: new NoopBuildRunner(),
      imageRunner: new ComposeCliImageRunner({ command: [process.execPath, "--conditions=source", "--import", "tsx", cli], cacheDir }),
      workDir: builderDir,
    });
    await builder.start();

    // the example's branding package, built by the hub: the compose's packages link a build
    await cp(branding, join(work, "branding"), { recursive: true });
    const text = (await minimalVariantDefinition("[ostree, oci, ociarchive, qcow2]\ndisk:\n  size: 2G")).replace(
      /^ {2}- kmod\n/m,
      "  - kmod\n  - debian-bootc-branding\n",
    );
    expect(text).toContain("debian-bootc-branding");
    const definition = join(work, "minimal.yaml");
    await writeFile(definition, `${text}\nbuild:\n  target: images-on-hub\n  sources:\n    - path: branding\n`);

    const docs: unknown[] = [];
    const lines: string[] = [];
    const out: Output = {
      isTTY: false,
      line: (t) => lines.push(t),
      json: (v) => docs.push(v),
      warn: (t) => lines.push(t),
      error: (t) => lines.push(t),
    };
    const args = ["compose", definition, "--output", join(work, "out"), "--cache-dir", cacheDir, "--skip-phase", "test"];
    // in the background: the browser follows the compose while it runs
    const composing = runCli(tool, [...args, "--hub", hub.url, "--token-file", tokenFile, "--images-on", "hub", "--json"], out);
    let code: number;
    try {
      await followInBrowser(hub.url, admin);
    } finally {
      code = await composing;
    }
    expect(code, JSON.stringify(docs[0] ?? lines)).toBe(0);
    const result = docs[0] as ComposeResult;
    expect(result.status).toBe("FINISHED");
    const phases = Object.fromEntries(result.phases.map((p) => [p.name, p.outcome]));
    for (const phase of ["rootfs", "ostree", "oci", "lint", "image-build", "metadata"]) expect(phases[phase], phase).toBe("done");

    const images = JSON.parse(await readFile(join(result.composeDir, "compose", "metadata", "images.json"), "utf8")) as {
      payload: { images: Array<{ path: string; type: string; sha256?: string; digest?: string }> };
    };
    const types = Object.fromEntries(images.payload.images.map((i) => [i.path, i.type]));
    expect(types).toMatchObject({
      "compose/minimal/amd64/debian-bootc-minimal-minimal.ociarchive": "ociarchive",
      "compose/minimal/amd64/images/debian-bootc-minimal-minimal-amd64-13.0.qcow2": "qcow2",
      "compose/minimal/amd64/oci": "oci",
    });
    const commit = JSON.parse(await readFile(join(result.composeDir, "compose", "minimal", "amd64", "ostree-commit.json"), "utf8"));
    expect(commit.commit).toMatch(/^[0-9a-f]{64}$/);
    expect(existsSync(join(result.composeDir, "logs", "image-task-minimal-amd64", "rootfs-minimal-amd64.log"))).toBe(true);
    const recorded = await admin.getCompose(result.composeId);
    expect(recorded.status).toBe("FINISHED");
    const tasks = await admin.listTasks({ method: "composeImage" });
    expect(tasks.map((t) => [t.state, t.host])).toEqual([["closed", "imager"]]);

    // the finished compose's page, reloaded: its images with digests and sizes, its packages with the build
    const page = composePage!;
    await page.reload();
    await expect(page.locator("dl.facts .state").first().textContent()).resolves.toBe("FINISHED");
    const imageRows = page.locator("section:has(h2:text-is('Images')) tbody tr");
    const listed: string[][] = [];
    for (let row = 0; row < (await imageRows.count()); row++) listed.push(await imageRows.nth(row).locator("td").allTextContents());
    const byPath = (a: string[], b: string[]) => (a[0]! < b[0]! ? -1 : 1);
    expect(listed.map(([, kind, path, size, digest]) => [path!, kind!, digest!, size!]).sort(byPath)).toEqual(
      images.payload.images
        .map((i) => [i.path, i.type, i.digest ?? `sha256:${i.sha256}`, expect.stringMatching(/^[0-9.]+ (B|KiB|MiB|GiB)$/)])
        .sort(byPath),
    );
    // a file's or an OCI manifest's SHA-256, the OSTree repository's commit
    for (const [, kind, , , digest] of listed) expect(digest).toMatch(kind === "ostree" ? commit.commit : /^sha256:[0-9a-f]{64}$/);
    const [build] = await admin.listBuilds({ name: "debian-bootc-branding" });
    const packages = page.locator("section:has(h2:text-is('Packages'))");
    await expect(packages.textContent()).resolves.toContain("1 built by this hub");
    // more than 50 packages: the list is folded
    await packages.getByText("All packages").click();
    await expect(packages.getByRole("link", { name: `debian-bootc-branding ${build!.version}` }).getAttribute("href")).resolves.toBe(
      `/builds/${build!.id}`,
    );
    await expect(page.locator(`#image-task-${tasks[0]!.id} td.host`).textContent()).resolves.toBe("imager");
    const sbom = await page.locator("section:has(h2:text-is('SBOM')) a").getAttribute("href");
    expect(Object.keys((await (await fetch(`${hub.url}${sbom}`)).json()) as object)).toEqual(["minimal.amd64"]);
    await screenshot(page, "compose-images-on-hub");
    await packages.getByRole("link", { name: `debian-bootc-branding ${build!.version}` }).click();
    await expect(page.locator("h1").textContent()).resolves.toContain("debian-bootc-branding");

    // a recompose with nothing changed queues no image task: it takes over what the first one placed
    docs.length = 0;
    expect(await runCli(tool, [...args, "--hub", hub.url, "--token-file", tokenFile, "--images-on", "hub", "--json"], out)).toBe(0);
    const again = docs[0] as ComposeResult;
    expect(again.status).toBe("FINISHED");
    expect((await admin.listTasks({ method: "composeImage" })).length).toBe(1);
    for (const phase of ["rootfs", "ostree", "oci", "lint", "image-build"])
      expect(again.phases.find((p) => p.name === phase)?.notes?.join("; "), phase).toMatch(
        new RegExp(`reused.*${result.composeId}|${result.composeId}.*reused`),
      );
    const imagesAgain = JSON.parse(await readFile(join(again.composeDir, "compose", "metadata", "images.json"), "utf8")) as typeof images;
    expect(imagesAgain.payload.images.map((i) => [i.path, i.digest ?? i.sha256]).sort()).toEqual(
      images.payload.images.map((i) => [i.path, i.digest ?? i.sha256]).sort(),
    );
    const commitAgain = JSON.parse(await readFile(join(again.composeDir, "compose", "minimal", "amd64", "ostree-commit.json"), "utf8"));
    expect(commitAgain.commit).toBe(commit.commit);
  });

  let composePage: Page | undefined;

  /**
   * From the overview to the running compose's page as soon as the hub lists it, then on that page without
   * a reload: the image task appears, runs on the builder (its image.log followed live in a second tab),
   * the phases move, and the status turns FINISHED.
   */
  async function followInBrowser(url: string, admin: HubClient) {
    const [compose] = await until(
      async () => {
        const listed = await admin.listComposes();
        return listed.length ? listed : undefined;
      },
      10 * MINUTES,
      "the hub to list the compose",
    );
    browser = await launchBrowser();
    const page = await newPage(browser, url);
    composePage = page;
    await page.goto("/");
    await page.locator(`section:has(h2:text("Recent composes")) a[href="/composes/${compose!.id}"]`).click();
    await page.waitForURL(`**/composes/${compose!.id}`);
    // reached while it runs, and following its events
    await expect(page.locator("#compose-status").textContent()).resolves.toBe("STARTED");
    await page.locator('#compose-status[data-live="1"]').waitFor({ timeout: MINUTES });
    await screenshot(page, "compose-images-on-hub-started");

    // the rootfs phase queues the image task; the builder claims it and runs it
    await page.locator('[data-phase="rootfs"]:text-is("running")').waitFor({ timeout: 20 * MINUTES });
    const task = page.locator("#image-tasks tr", { has: page.locator("td.host:text-is('imager')") });
    await task.locator('.state:text-is("open")').waitFor({ timeout: 20 * MINUTES });
    await expect(task.locator("td").first().textContent()).resolves.toBe("minimal/amd64");
    await screenshot(page, "compose-images-on-hub-running");

    // its live log, in a second tab: lines arrive while the task runs
    const logHref = await task.getByRole("link", { name: "image.log" }).getAttribute("href");
    const logPage = await page.context().newPage();
    await logPage.goto(logHref!);
    await logPage.locator('#log-status:text-matches("^Following")').waitFor({ timeout: MINUTES });
    // the builder writes a line as each of the task's phases starts and ends: more arrive through the stream
    const log = logPage.locator("pre#log");
    const shown = Number(await log.getAttribute("data-lines"));
    await until(async () => Number(await log.getAttribute("data-lines")) > shown, 20 * MINUTES, "image.log to grow");
    await screenshot(logPage, "image-task-live-log", false);
    await logPage.close();

    // the phases after rootfs move on the page, then the compose's status: no reload
    for (const phase of ["rootfs", "ostree", "oci", "image-build", "metadata"])
      await page.locator(`[data-phase="${phase}"]:text-is("done")`).waitFor({ timeout: 30 * MINUTES });
    await page.locator('#compose-status:text-is("FINISHED")').waitFor({ timeout: 30 * MINUTES });
    await expect(task.locator(".state").textContent()).resolves.toBe("closed");
    await expect(page.locator("#compose-changed").isVisible()).resolves.toBe(true);
    // the log link of a phase that was pending when the page was opened appeared with its start
    await expect(page.locator("#phase-image-build a").isVisible()).resolves.toBe(true);
    await screenshot(page, "compose-images-on-hub-finished-live");
  }
});
