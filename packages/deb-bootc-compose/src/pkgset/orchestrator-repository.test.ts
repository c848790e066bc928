import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HubClient } from "@debian-bootc/deb-orchestrator";
import { type RunningHub, startHub } from "@debian-bootc/deb-orchestrator/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downloadAll } from "../gather/downloader.js";
import { downloadItem } from "../gather/gather-phase.js";
import { type IndexPackage, loadIndexes, orchestratorRepositorySpec } from "./repository-index.js";

/**
 * A tag's repository on a hub that refuses anonymous reads (`deb-orchestrator hub --private-read`): the
 * compose reads the tag, the hub's key and the repository's files (pkgset's indexes, gather's downloads)
 * with its token; without one the hub refuses, and the compose says so with its own code.
 */
describe("a deb-orchestrator tag's repository on a private-read hub", () => {
  let dir = "";
  let hub: RunningHub;
  let admin: HubClient;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "compose-private-hub-"));
    hub = await startHub({ db: `sqlite:${join(dir, "hub.db")}`, dataDir: join(dir, "data"), publicRead: false });
    admin = new HubClient({ url: hub.url, token: (await readFile(hub.adminTokenFile, "utf8")).trim() });
    await admin.createTag("private-dest", { arches: ["amd64"] });
    const { task } = await admin.regenRepo("private-dest");
    for (let state = ""; state !== "closed"; state = (await admin.getTask(task)).state) {
      expect(["failed", "canceled"]).not.toContain(state);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  afterAll(async () => {
    await hub?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("is read with the compose's token: the newest snapshot and the hub's key", async () => {
    const spec = await orchestratorRepositorySpec(admin, { tag: "private-dest" }, dir, "repositories[0]");
    expect(spec).toMatchObject({
      name: "orchestrator-private-dest",
      url: `${hub.url}/repos/private-dest/1`,
      suites: ["private-dest"],
      components: ["main"],
    });
    expect(spec.keyring).toContain("BEGIN PGP PUBLIC KEY BLOCK");
  });

  it("has its indexes read and its files downloaded with the compose's token", async () => {
    const spec = await orchestratorRepositorySpec(admin, { tag: "private-dest" }, dir, "repositories[0]");
    const loaded = await loadIndexes({ repositories: [spec], arches: ["amd64"], cacheDir: join(dir, "cache") });
    expect(loaded.repositories.map((r) => r.suite)).toEqual(["private-dest"]);
    expect(loaded.byArch.get("amd64")).toEqual([]); // nothing built into the tag; its (empty) index was read

    // gather fetches pool files the way it fetches this one: the repository's fetch, from the package's origin
    const inRelease = Buffer.from(
      await (await admin.open("repoFile", { params: { "*": "private-dest/1/dists/private-dest/InRelease" } })).arrayBuffer(),
    );
    const sha256 = createHash("sha256").update(inRelease).digest("hex");
    const origin = {
      repository: spec.name,
      url: spec.url,
      suite: "private-dest",
      component: "main",
      ...(spec.fetch ? { fetch: spec.fetch } : {}),
    };
    const item = downloadItem({
      name: "InRelease",
      version: "1",
      filename: "dists/private-dest/InRelease",
      size: inRelease.length,
      sha256,
      origin,
    } as IndexPackage);
    const result = await downloadAll([item], { cacheDir: join(dir, "cache") });
    expect(await readFile(result.files.get(sha256)!)).toEqual(inRelease);

    const anonymous = { ...spec, fetch: undefined };
    await expect(loadIndexes({ repositories: [anonymous], arches: ["amd64"], cacheDir: join(dir, "cache") })).rejects.toMatchObject({
      code: "PKGSET_REPOSITORY_FAILED",
      message: expect.stringContaining("401"),
    });
  });

  it("keeps the token to the hub's repositories", async () => {
    const spec = await orchestratorRepositorySpec(admin, { tag: "private-dest" }, dir, "repositories[0]");
    for (const elsewhere of [`${hub.url}/api/v1/whoami`, `${hub.url}/repos/../api/v1/whoami`, "http://127.0.0.2:9/repos/x"])
      await expect(spec.fetch!(elsewhere, { redirect: "follow" })).rejects.toMatchObject({ code: "REQUEST_INVALID" });
  });

  it("is refused without a token, with the compose's code and the hub's reason", async () => {
    await expect(
      orchestratorRepositorySpec(new HubClient({ url: hub.url }), { tag: "private-dest" }, dir, "repositories[0]"),
    ).rejects.toMatchObject({ code: "PKGSET_REPOSITORY_FAILED", message: expect.stringContaining("anonymous reads") });
  });

  it("names a missing tag", async () => {
    await expect(orchestratorRepositorySpec(admin, { tag: "nothing-here" }, dir, "repositories[0]")).rejects.toMatchObject({
      code: "PKGSET_REPOSITORY_FAILED",
      message: expect.stringContaining("no such tag"),
    });
  });
});
