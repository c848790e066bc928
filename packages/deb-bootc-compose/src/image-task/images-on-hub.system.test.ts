/**
 * System tier, end to end: `deb-bootc-compose compose DEF --hub URL --images-on hub` against a hub in this
 * process (SQLite) and a real builder with the `build` and `image` capabilities: it builds the example's
 * branding package (the no-op runner: a real but tiny .deb) and runs `deb-bootc-compose image-task` for the
 * composeImage task, then `deb-bootc-compose disk-image` for the diskImage task once the client signed the
 * commit. The minimal definition's minimal variant (outputs ostree, oci, ociarchive, qcow2, an update
 * channel, plus the branding package) ends FINISHED: its images.json lists the OCI archive and the disk
 * image the builder made of the signed commit, the commit is in the compose's repository, and the hub has
 * the compose FINISHED. The builder's check of the commit runs for real on the downloaded tar: the client's
 * signature passes, no signature and a signature by another key are refused. While it runs, a
 * headless chromium (test/browser.ts) goes from the hub's overview to the compose's page and follows it
 * without reloading: the image task appears with its builder, its live image.log grows, the phases move,
 * the status turns FINISHED; reloaded, the page lists the images with digests and sizes and the packages
 * with the branding package's build. Screenshots in artifacts/screenshots/. A private rootfs cache; the
 * machine's .debs and indexes. Needs root, mmdebstrap, bubblewrap, skopeo, chromium; several minutes.
 *
 * The same run carries the image task's own checks (this file's one real image-task run serves both): the
 * task's request (the definition's file, the snapshot without its key), the files it returned as the client
 * downloaded them (the OSTree repository's tar with the commit on its ref, an OCI archive skopeo reads, the
 * disk image), and where the client placed them (images.json, SHA256SUMS, the commit in the compose's
 * repository). A third compose with a changed definition (its disk 8M, too small; qcow2 failable) queues a
 * second task that chains on the first commit: the builder records it as its parent by checksum, the
 * client's repository holds both, the disk task's failed disk image makes the compose FINISHED_INCOMPLETE;
 * a builder that records a parent the task was not sent is refused.
 */
import { existsSync } from "node:fs";
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Output, run, runCli } from "@debian-bootc/core";
import { HubClient } from "@debian-bootc/deb-orchestrator";
import { Builder, ComposeCliImageRunner, NoopBuildRunner, type RunningHub, startHub } from "@debian-bootc/deb-orchestrator/local";
import { generateOpenPgpKey, hashFileWith } from "@debian-bootc/debian";
import type { Browser, Page } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { hasChromium, launchBrowser, newPage, screenshot } from "../../../../test/browser.js";
import { until } from "../../../deb-orchestrator/src/testing/test-builds.js";
import { ComposeEvents } from "../compose/compose-events.js";
import { ComposeState } from "../compose/compose-state.js";
import { type ComposeResult, fileLogger } from "../compose/phase-engine.js";
import { loadDefinition } from "../definition.js";
import { runrootProfile, runrootScript } from "../ostree/runroot.js";
import { signCommit } from "../publish/publish.js";
import { tool } from "../tool.js";
import { cacheWithPrivateRootfs, minimalVariantDefinition } from "./__fixtures__/minimal-compose.js";
import { addDetachedMetadata, commitmetaPath, verifyCommitToDeploy } from "./disk-task.js";
import { checkImageTask, placeOstreeCommits } from "./place-result.js";
import { OSTREE_TAR } from "./run-image-task.js";
import { extractTarSafely } from "./safe-tar.js";
import { parseDiskTaskResult, parseImageTaskResult } from "./task-result.js";

const tools = ["/usr/bin/mmdebstrap", "/usr/bin/bwrap", "/usr/bin/skopeo"];
/** What the hub keeps of a composeImage task: its request as the client queued it. */
interface ImageRequest {
  snapshot: Array<{ path: string }>;
  definitionFiles: Array<{ path: string }>;
  state: { previousCommit?: string };
}
/** What the hub keeps of a diskImage task's request. */
interface DiskRequest {
  commit: { checksum: string; repository: { sha256: string; size: number }; commitmeta?: string };
  state: Record<string, unknown>;
}
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

  it("is FINISHED with the OCI archive and the disk image the builder made, and a changed compose chains on its commit", {
    timeout: 2_400_000,
  }, async () => {
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
    const text = (await minimalVariantDefinition("[ostree, oci, ociarchive, qcow2]\ndisk:\n  size: 2G"))
      .replace(/^ {2}- kmod\n/m, "  - kmod\n  - debian-bootc-branding\n")
      // a file from the definition's folder: the builder reads it from the task's work directory
      .replace(/^files:\n/m, 'files:\n  - dest: /usr/lib/motd.d/20-task\n    src: files/motd.txt\n    mode: "0644"\n');
    expect(text).toContain("debian-bootc-branding");
    expect(text).toContain("files/motd.txt");
    await mkdir(join(work, "files"));
    await writeFile(join(work, "files", "motd.txt"), "made by an image task\n");
    const definition = join(work, "minimal.yaml");
    // an update channel: the commit is signed here, and the builder deploys it signed only
    await writeFile(join(work, "channel.asc"), (await generateOpenPgpKey({ name: "channel", email: "c@example.invalid" })).privateKey, {
      mode: 0o600,
    });
    const buildSection =
      "\nupdates:\n  url: http://127.0.0.1/\n  key: channel.asc\nbuild:\n  target: images-on-hub\n  sources:\n    - path: branding\n";
    await writeFile(definition, `${text}${buildSection}`);

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
    const diskTasks = await admin.listTasks({ method: "diskImage" });
    expect(diskTasks.map((t) => [t.state, t.host])).toEqual([["closed", "imager"]]);

    // the task as the client queued it: the definition's file, the snapshot's index but not its key, nothing to chain on
    const task = await admin.getTask(tasks[0]!.id);
    const request = task.request as ImageRequest;
    expect(request.definitionFiles.map((f) => f.path)).toEqual(["files/motd.txt"]);
    expect(request.snapshot.some((f) => f.path === "dists/trixie-minimal/InRelease")).toBe(true);
    expect(request.snapshot.some((f) => f.path.includes("snapshot-key"))).toBe(false);
    expect(request.state.previousCommit).toBeUndefined();
    // the builder ran `deb-bootc-compose image-task` to its end (no disk image: that is the diskImage task's); its output is the task's live log
    const imageLog = await (await admin.taskLog(task.id, "image.log")).text();
    expect(imageLog).toMatch(/lint: done/);
    expect(imageLog).not.toMatch(/image-build: (started|done)/);
    // what it returned, as the client downloaded it
    const r = parseImageTaskResult((task.result as { image?: unknown }).image);
    const downloaded = join(result.composeDir, "work", "image-tasks", "minimal-amd64");
    const kinds = Object.fromEntries(task.files.filter((f) => f.kind !== "log").map((f) => [f.name, f.kind]));
    expect(kinds).toEqual({
      [OSTREE_TAR]: "ostree-commit",
      "debian-bootc-minimal-minimal.ociarchive": "oci-archive",
    });
    expect(r.disk).toBeUndefined();
    // the diskImage task: the commit, the composeImage task's tar by its SHA256, the signature made here
    const diskTask = await admin.getTask(diskTasks[0]!.id);
    const diskRequest = diskTask.request as DiskRequest;
    const tarFile = task.files.find((f) => f.kind === "ostree-commit")!;
    expect(diskRequest.commit).toMatchObject({ checksum: r.ostree!.commit, repository: { sha256: tarFile.sha256, size: tarFile.size } });
    const repoHere = join(result.composeDir, "compose", "ostree", "repo");
    const signature = await readFile(commitmetaPath(repoHere, r.ostree!.commit));
    expect(Buffer.from(diskRequest.commit.commitmeta!, "base64")).toEqual(signature);
    expect(diskRequest.state).toEqual({});
    const diskLog = await (await admin.taskLog(diskTask.id, "image.log")).text();
    expect(diskLog).toContain(`${r.ostree!.commit} verified: the ref's head, with a good signature by the channel key its image carries`);
    expect(diskLog).toMatch(/image-build: done/);
    const d = parseDiskTaskResult((diskTask.result as { image?: unknown }).image);
    expect(d.disk?.commit).toBe(r.ostree!.commit);
    expect(Object.fromEntries(diskTask.files.filter((f) => f.kind !== "log").map((f) => [f.name, f.kind]))).toEqual({
      "debian-bootc-minimal-minimal-amd64-13.0.qcow2": "disk-image",
    });
    expect(task.files.filter((f) => f.kind === "log").map((f) => f.name)).toContain("log-rootfs-minimal-amd64.log");
    // each file where the client left it: the archive and the disk image moved to their place in the compose, the rest downloaded
    const arch = join(result.composeDir, "compose", "minimal", "amd64");
    const placedAt = (composeDir: string, f: { name: string; kind: string }) => {
      const at = join(composeDir, "compose", "minimal", "amd64");
      if (f.kind === "oci-archive") return join(at, f.name);
      if (f.kind === "disk-image") return join(at, "images", f.name);
      return join(composeDir, "work", "image-tasks", "minimal-amd64", f.name);
    };
    for (const f of [...task.files, ...diskTask.files]) {
      const found = await stat(placedAt(result.composeDir, f));
      expect(found.isFile(), f.name).toBe(true);
      expect(found.size, f.name).toBe(f.size);
    }
    expect(r.rootfs).toMatchObject({ from: "snapshot", origin: "built" });
    expect(r.ostree?.ref).toBeTruthy();
    expect(r.ostree!.commit).toBe(commit.commit);
    // the tar's repository holds the commit on its ref
    const listing = (await run("tar", ["--list", "--file", join(downloaded, OSTREE_TAR)])).stdout;
    expect(listing).toContain(`repo/objects/${r.ostree!.commit.slice(0, 2)}/${r.ostree!.commit.slice(2)}.commit`);
    const refHead = await run("tar", [
      "--extract",
      "--to-stdout",
      "--file",
      join(downloaded, OSTREE_TAR),
      `repo/refs/heads/${r.ostree!.ref}`,
    ]);
    expect(refHead.stdout.trim()).toBe(r.ostree!.commit);
    // an OCI archive skopeo reads, of the arch
    const archive = join(arch, "debian-bootc-minimal-minimal.ociarchive");
    const inspected = JSON.parse((await run("skopeo", ["inspect", "--raw", `oci-archive:${archive}`])).stdout) as { layers?: unknown[] };
    expect(inspected.layers?.length).toBeGreaterThan(0);
    expect((await hashFileWith(archive, ["sha256"])).sha256).toBe(r.oci?.sha256);
    const disk = d.disk!.files[0]!;
    expect((await stat(join(arch, "images", disk.file))).size).toBe(disk.size);
    // the definition's file is in the image: the builder read it from the work directory
    expect(r.phases.find((p) => p.name === "lint")?.outcome).toBe("done");
    // the test phase skipped: not asked to boot, it did not
    expect(d.bootTests).toBeUndefined();
    expect(r.ostree!.parent).toBeUndefined();
    // placed into the compose: the metadata lists the builder's files with their digests
    const placedByPath = Object.fromEntries(images.payload.images.map((i) => [i.path, i]));
    expect(placedByPath["compose/minimal/amd64/debian-bootc-minimal-minimal.ociarchive"]).toMatchObject({ sha256: r.oci!.sha256 });
    expect(placedByPath[`compose/minimal/amd64/images/${disk.file}`]).toMatchObject({ type: "qcow2", sha256: disk.sha256 });
    const sums = await readFile(join(result.composeDir, "compose", "SHA256SUMS"), "utf8");
    expect(sums).toContain(`${disk.sha256}  minimal/amd64/images/${disk.file}`);
    expect(sums).toContain(`${r.oci!.sha256}  minimal/amd64/debian-bootc-minimal-minimal.ociarchive`);
    expect(existsSync(join(result.composeDir, "compose", "minimal", "amd64", "oci", "index.json"))).toBe(true);
    // the commit is in the compose's repository on its ref
    const loaded = await loadDefinition(definition);
    const shown = await runrootScript('ostree show --repo=/repo "$1" && ostree rev-parse --repo=/repo "$1"', [r.ostree!.ref], {
      profile: runrootProfile(loaded.definition.suite, "amd64"),
      packages: ["ostree"],
      binds: [{ source: join(result.composeDir, "compose", "ostree", "repo"), target: "/repo", readOnly: true }],
    });
    expect(shown).toContain(r.ostree!.commit);
    expect(shown).toContain(result.composeId);

    // the builder's check of the commit, on the tar it was sent: this client's signature passes; none, or
    // one by a key the image does not carry, is refused
    const checkWith = async (name: string, sign: (repo: string) => Promise<void>) => {
      const at = join(work, "check", name);
      await extractTarSafely(join(downloaded, OSTREE_TAR), at);
      await sign(join(at, "repo"));
      return verifyCommitToDeploy({
        repo: join(at, "repo"),
        commit: r.ostree!.commit,
        definition: loaded.definition,
        variant: "minimal",
        arch: "amd64",
      });
    };
    await expect(
      checkWith("client", (repo) => addDetachedMetadata(repo, r.ostree!.commit, signature.toString("base64"))),
    ).resolves.toBeUndefined();
    await expect(checkWith("unsigned", async () => {})).rejects.toMatchObject({
      code: "COMMIT_SIGNATURE_REFUSED",
      message: expect.stringContaining("no good signature by the key its image trusts"),
    });
    const stranger = await generateOpenPgpKey({ name: "stranger", email: "s@example.invalid" });
    await expect(
      checkWith("stranger", async (repo) => {
        await signCommit({
          repo,
          commit: r.ostree!.commit,
          key: { path: "", privateKey: stranger.privateKey, publicKey: stranger.publicKey, fingerprint: stranger.fingerprint },
          profile: runrootProfile(loaded.definition.suite, "amd64"),
        });
        // signed there, by the stranger: the detached metadata exists, and is still refused
        expect(existsSync(commitmetaPath(repo, r.ostree!.commit))).toBe(true);
      }),
    ).rejects.toMatchObject({ code: "COMMIT_SIGNATURE_REFUSED", message: expect.stringContaining("no good signature") });

    // the finished compose's page, reloaded: its images with digests and sizes, its packages with the build
    const page = composePage!;
    // before the reload, the diskImage task's row as the page's script added it live (the server's label)
    await expect(page.locator(`#image-task-${diskTasks[0]!.id} td`).first().textContent()).resolves.toBe("minimal/amd64 disk images");
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
    await expect(page.locator(`#image-task-${diskTasks[0]!.id} td`).first().textContent()).resolves.toBe("minimal/amd64 disk images");
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
    expect((await admin.listTasks({ method: "diskImage" })).length).toBe(1);
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

    // a changed definition: a second image task, chained on the commit the latest compose has (the first's), its disk too small
    const smallDisk = text.replace("size: 2G", "size: 8M");
    expect(smallDisk).not.toBe(text);
    await writeFile(definition, `${smallDisk}\nfailable: [qcow2]\n${buildSection}`);
    docs.length = 0;
    lines.length = 0;
    expect(await runCli(tool, [...args, "--hub", hub.url, "--token-file", tokenFile, "--images-on", "hub", "--json"], out)).toBe(0);
    const chained = docs[0] as ComposeResult;
    // a partial result: the disk task succeeds, the disk image's failure is in its phases and fails the (failable) image-build here
    expect(chained.status, JSON.stringify(chained.phases)).toBe("FINISHED_INCOMPLETE");
    expect(chained.phases.find((p) => p.name === "image-build")).toMatchObject({
      outcome: "failed-failable",
      error: {
        code: "DISK_IMAGE_FAILED",
        message: expect.stringMatching(/minimal\/amd64: the disk image failed on imager: DISK_IMAGE_FAILED: .*too small/),
      },
    });
    for (const phase of ["rootfs", "ostree", "oci"]) expect(chained.phases.find((p) => p.name === phase)?.outcome, phase).toBe("done");
    const imageTasks = await admin.listTasks({ method: "composeImage" });
    expect(imageTasks.map((t) => [t.state, t.host])).toEqual([
      ["closed", "imager"],
      ["closed", "imager"],
    ]);
    const task2 = await admin.getTask(Math.max(...imageTasks.map((t) => t.id)));
    expect((task2.request as ImageRequest).state.previousCommit).toBe(r.ostree!.commit);
    const r2 = parseImageTaskResult((task2.result as { image?: unknown }).image);
    expect(r2.rootfs.origin).toBe("reused");
    expect(r2.ostree?.parent).toBe(r.ostree!.commit);
    expect(r2.ostree?.commit).not.toBe(r.ostree!.commit);
    expect(r2.disk).toBeUndefined();
    const diskTasks2 = await admin.listTasks({ method: "diskImage" });
    expect(diskTasks2.map((t) => [t.state, t.host])).toEqual([
      ["closed", "imager"],
      ["closed", "imager"],
    ]);
    const diskTask2 = await admin.getTask(Math.max(...diskTasks2.map((t) => t.id)));
    expect((diskTask2.request as DiskRequest).commit.checksum).toBe(r2.ostree!.commit);
    const d2 = parseDiskTaskResult((diskTask2.result as { image?: unknown }).image);
    expect(d2.disk).toBeUndefined();
    expect(d2.phases.find((p) => p.name === "image-build")).toMatchObject({
      outcome: "failed-failable",
      error: { code: "DISK_IMAGE_FAILED" },
    });
    expect(diskTask2.files.map((f) => f.name)).toContain("log-disk-image-build.log");
    expect(
      task2.files
        .filter((f) => f.kind !== "log")
        .map((f) => f.kind)
        .sort(),
    ).toEqual(["oci-archive", "ostree-commit"]);
    // placed: the commit's record names its parent, the client's repository holds the new commit and its parent
    const commit2 = JSON.parse(await readFile(join(chained.composeDir, "compose", "minimal", "amd64", "ostree-commit.json"), "utf8"));
    expect(commit2).toMatchObject({ commit: r2.ostree!.commit, parent: r.ostree!.commit });
    const chain = await runrootScript(
      'ostree rev-parse --repo=/repo "$1^" && ostree fsck --repo=/repo >&2 && ostree log --repo=/repo "$1"',
      [r2.ostree!.commit],
      {
        profile: runrootProfile(loaded.definition.suite, "amd64"),
        packages: ["ostree"],
        binds: [{ source: join(chained.composeDir, "compose", "ostree", "repo"), target: "/repo", readOnly: true }],
      },
    );
    expect(chain.split("\n")[0]).toBe(r.ostree!.commit);
    // the parent's object is there too, as after a local commit: the log reaches the first compose's commit
    expect(chain).toContain(`commit ${r.ostree!.commit}`);
    expect(chain).not.toContain("History beyond this commit not fetched");

    // a builder that records another parent than the one sent is refused
    await rm(join(chained.composeDir, "compose", "ostree", "repo"), { recursive: true, force: true });
    const downloadedAgain = join(chained.composeDir, "work", "image-tasks", "again");
    await mkdir(downloadedAgain, { recursive: true });
    for (const f of task2.files) await copyFile(placedAt(chained.composeDir, f), join(downloadedAgain, f.name));
    const unsent = await checkImageTask({ dir: downloadedAgain, files: task2.files, result: r2 });
    const logger = fileLogger(join(chained.composeDir, "logs", "place-again.log"));
    const ctx = {
      composeId: chained.composeId,
      composeDir: chained.composeDir,
      definition: (await loadDefinition(definition)).definition,
      logger,
      signal: new AbortController().signal,
      state: new ComposeState(),
      emit: (e: Parameters<ComposeEvents["emit"]>[0]) => new ComposeEvents().emit(e),
    };
    await expect(placeOstreeCommits(ctx, [unsent], work)).rejects.toMatchObject({
      code: "IMAGE_RESULT_REFUSED",
      message: expect.stringContaining("the task was sent none"),
    });
    await logger.flush();
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
    // the first row: the composeImage task (the diskImage task, on the same builder, comes after the ostree phase)
    const task = page.locator("#image-tasks tr", { has: page.locator("td.host:text-is('imager')") }).first();
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
    // the diskImage task's row appeared live too, closed
    const diskRow = page.locator("#image-tasks tr", { hasText: "disk images" });
    await expect(diskRow.locator(".state").textContent()).resolves.toBe("closed");
    await expect(page.locator("#compose-changed").isVisible()).resolves.toBe(true);
    // the log link of a phase that was pending when the page was opened appeared with its start
    await expect(page.locator("#phase-image-build a").isVisible()).resolves.toBe(true);
    await screenshot(page, "compose-images-on-hub-finished-live");
  }
});
