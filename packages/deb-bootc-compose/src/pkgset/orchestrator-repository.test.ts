import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HubClient } from "@debian-bootc/deb-orchestrator";
import { type RunningHub, startHub } from "@debian-bootc/deb-orchestrator/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { orchestratorRepositorySpec } from "./repository-index.js";

/**
 * A tag's repository on a hub that refuses anonymous reads (`deb-orchestrator hub --private-read`): the
 * compose reads the tag and the hub's key with its token; without one the hub refuses, and the compose
 * says so with its own code.
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
