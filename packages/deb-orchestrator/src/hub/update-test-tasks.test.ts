import { afterEach, describe, expect, it } from "vitest";
import type { ClaimedTask } from "../api/builder-protocol.js";
import type { RawHubClient } from "../testing/raw-hub-client.js";
import { databaseKinds, startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";
import { composeImageTasks } from "./tasks/methods/compose-image.js";
import { queueUpdateTest } from "./tasks/methods/update-test.js";

const databases = useDatabases();
const commit = (c: string) => c.repeat(64);

describe.each(databaseKinds)("updateTest tasks on %s", (kind) => {
  let test: TestHub;
  afterEach(async () => {
    await test?.close();
  });

  /** A running compose with the previous image and the repository tar uploaded: what an update test refers to. */
  async function runningCompose(client: RawHubClient, id = "mini-1.0-20261204.1") {
    await client.post("/api/v1/composes", { id, name: "mini", definition: "name: mini\n" });
    const image = await client.uploadBuffer(Buffer.from("a disk image\n"));
    const repository = await client.uploadBuffer(Buffer.from("a repository tar\n"));
    return {
      id,
      body: {
        variant: "base",
        arch: "amd64",
        image: { name: "mini-base.qcow2", format: "qcow2", sha256: image.sha256, size: image.size },
        repository: { sha256: repository.sha256, size: repository.size },
        remote: "mini",
        firmware: "uefi",
        from: { commit: commit("a") },
        to: { commit: commit("b"), composeId: id },
      },
    };
  }

  async function claim(host: RawHubClient, name: string): Promise<ClaimedTask | null> {
    return (await host.post<{ task: ClaimedTask | null }>(`/api/v1/hosts/${name}/claim`, { session: "s", waitMs: 300 })).task;
  }

  it("queues an update test for an image builder, listed with the compose's tasks and canceled when the compose ends", async () => {
    test = await startTestHub(databases, kind, { leaseMs: 60_000 });
    const { id, body } = await runningCompose(test.admin);
    const queued = await test.admin.post<{ task: number }>(`/api/v1/composes/${id}/update-tests`, body);
    const builds = await test.user("builds", ["host"]);
    await builds.post("/api/v1/hosts/builds/checkin", { session: "s", arches: ["amd64"], capacity: 1 });
    expect(await claim(builds, "builds")).toBeNull();
    const images = await test.user("images", ["host"]);
    await images.post("/api/v1/hosts/images/checkin", { session: "s", arches: ["amd64"], capabilities: ["image"], capacity: 1 });
    const claimed = await claim(images, "images");
    expect(claimed).toMatchObject({ id: queued.task, method: "updateTest", arch: "amd64", request: { ...body, compose: id } });
    expect(await composeImageTasks(test.hub.ctx.db, id)).toEqual([
      { id: queued.task, method: "updateTest", variant: "base", arch: "amd64", state: "assigned", host: "images" },
    ]);
    await test.admin.post(`/api/v1/composes/${id}/finish`, { status: "DOOMED" });
    expect((await test.admin.get<{ state: string }>(`/api/v1/tasks/${queued.task}`)).state).toBe("canceled");
    await expect(test.admin.post(`/api/v1/composes/${id}/update-tests`, body)).rejects.toMatchObject({ code: "COMPOSE_STATE" });
  });

  it("refuses hostile names, commits and remotes, unknown fields, files not uploaded and composes it does not have", async () => {
    test = await startTestHub(databases, kind, { leaseMs: 60_000 });
    const { id, body } = await runningCompose(test.admin);
    const hostile: [string, unknown][] = [
      ["image name with a path", { ...body, image: { ...body.image, name: "../../etc/x.qcow2" } }],
      ["image name with a slash", { ...body, image: { ...body.image, name: "a/b.qcow2" } }],
      ["hidden image name", { ...body, image: { ...body.image, name: ".x.qcow2" } }],
      ["the repository tar's name", { ...body, image: { ...body.image, name: "repository.tar" } }],
      ["name and format differ", { ...body, image: { ...body.image, name: "mini.raw" } }],
      ["format", { ...body, image: { ...body.image, format: "vmdk" } }],
      ["short commit", { ...body, from: { commit: "abc" } }],
      ["upper-case commit", { ...body, to: { ...body.to, commit: "A".repeat(64) } }],
      ["an option as remote", { ...body, remote: "--repo=/" }],
      ["remote with a slash", { ...body, remote: "a/b" }],
      ["firmware", { ...body, firmware: "coreboot" }],
      ["variant", { ...body, variant: "../x" }],
      ["to's compose id", { ...body, to: { ...body.to, composeId: "../x" } }],
      ["unknown field", { ...body, qemuArgs: ["-drive", "file=/dev/sda"] }],
      ["unknown image field", { ...body, image: { ...body.image, path: "/dev/sda" } }],
    ];
    for (const [what, request] of hostile)
      await expect(test.admin.post(`/api/v1/composes/${id}/update-tests`, request), what).rejects.toMatchObject({
        code: "REQUEST_INVALID",
      });
    await expect(
      test.admin.post(`/api/v1/composes/${id}/update-tests`, { ...body, image: { ...body.image, sha256: commit("1") } }),
    ).rejects.toMatchObject({ code: "ARTIFACT_MISSING" });
    await expect(
      test.admin.post(`/api/v1/composes/${id}/update-tests`, { ...body, repository: { ...body.repository, sha256: commit("2") } }),
    ).rejects.toMatchObject({ code: "ARTIFACT_MISSING" });
    // the hub checks again behind the API's edge
    const admin = { userId: 1, name: "admin", perms: new Set(["admin"]) };
    await expect(
      queueUpdateTest(test.hub.ctx, admin, { ...body, compose: id, image: { ...body.image, name: "../x.qcow2" } } as never),
    ).rejects.toMatchObject({ code: "REQUEST_INVALID" });
    await expect(test.admin.post("/api/v1/composes/other-1.0-20261204.0/update-tests", body)).rejects.toMatchObject({ code: "NOT_FOUND" });
    const mallory = await test.user("mallory", ["build"]);
    await expect(mallory.post(`/api/v1/composes/${id}/update-tests`, body)).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
    expect(await test.admin.get<unknown[]>("/api/v1/tasks?method=updateTest")).toEqual([]);
  });
});
