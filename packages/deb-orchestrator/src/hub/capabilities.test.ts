import { afterEach, describe, expect, it } from "vitest";
import type { ClaimedTask } from "../api/builder-protocol.js";
import type { RawHubClient } from "../testing/raw-hub-client.js";
import { until } from "../testing/test-builds.js";
import { databaseKinds, startTestHub, type TestHub, useDatabases } from "../testing/test-hub.js";
import { queueComposeImage } from "./tasks/methods/compose-image.js";

const databases = useDatabases();

describe.each(databaseKinds)("builder capabilities and composeImage tasks on %s", (kind) => {
  let test: TestHub;
  /** A compose's client renewing it (deb-bootc-compose's heartbeat), stopped after each test. */
  let clients: NodeJS.Timeout | undefined;
  afterEach(async () => {
    clearInterval(clients);
    await test?.close();
  });

  /** A running compose with a two-file snapshot uploaded: what an image task refers to. */
  async function runningCompose(client: RawHubClient, id = "mini-1.0-20261203.0") {
    await client.post("/api/v1/composes", { id, name: "mini", definition: "name: mini\n" });
    const release = await client.uploadBuffer(Buffer.from("Origin: test\n"));
    const deb = await client.uploadBuffer(Buffer.from("not really a deb\n"));
    const script = await client.uploadBuffer(Buffer.from("#!/bin/sh\necho postprocess\n"));
    return {
      id,
      body: {
        definitionFile: "mini.yaml",
        definition: "name: mini\n",
        variant: "base",
        arch: "amd64",
        snapshot: [
          { path: "dists/mini-base/InRelease", sha256: release.sha256, size: release.size },
          { path: "pool/main/h/hello/hello_1.0-1_amd64.deb", sha256: deb.sha256, size: deb.size },
        ],
        definitionFiles: [{ path: "scripts/postprocess.sh", sha256: script.sha256, size: script.size }],
        state: { codename: "trixie", packages: ["hello"] },
      },
    };
  }

  async function claim(host: RawHubClient, name: string, session: string): Promise<ClaimedTask | null> {
    return (await host.post<{ task: ClaimedTask | null }>(`/api/v1/hosts/${name}/claim`, { session, waitMs: 300 })).task;
  }

  it("hands an image task only to a host that declared the image capability, and a build task only to a build host", async () => {
    test = await startTestHub(databases, kind, { leaseMs: 60_000 });
    const { id, body } = await runningCompose(test.admin);
    const image = await test.admin.post<{ task: number }>(`/api/v1/composes/${id}/image-tasks`, body);
    const noop = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64" });

    const builds = await test.user("builds", ["host"]);
    // no capabilities given: a build host, as every builder was before capabilities existed
    await builds.post("/api/v1/hosts/builds/checkin", { session: "s", arches: ["amd64"], capacity: 4 });
    const why = await test.admin.get<{ reason: string }>(`/api/v1/tasks/${image.task}/why`);
    expect(why.reason).toContain("no builder for amd64 has the 'image' capability");
    const images = await test.user("images", ["host"]);
    await images.post("/api/v1/hosts/images/checkin", { session: "s", arches: ["amd64"], capabilities: ["image"], capacity: 4 });

    // the image task is older and as urgent: without the capability rule the build host would get it first
    expect((await claim(builds, "builds", "s"))?.id).toBe(noop.task);
    expect(await claim(builds, "builds", "s")).toBeNull();
    const claimed = await claim(images, "images", "s");
    expect(claimed).toMatchObject({ id: image.task, method: "composeImage", arch: "amd64" });
    expect(claimed?.request).toMatchObject({
      compose: id,
      variant: "base",
      definitionFile: "mini.yaml",
      definitionFiles: body.definitionFiles,
      state: body.state,
    });
    expect(await claim(images, "images", "s")).toBeNull();

    const hosts = await test.admin.get<{ name: string; capabilities: string[] }[]>("/api/v1/hosts");
    expect(hosts.map((h) => [h.name, h.capabilities])).toEqual([
      ["builds", ["build"]],
      ["images", ["image"]],
    ]);
  });

  it("lets a host with both capabilities run both kinds, and refuses a capability it does not know", async () => {
    test = await startTestHub(databases, kind, { leaseMs: 60_000 });
    const { id, body } = await runningCompose(test.admin);
    const image = await test.admin.post<{ task: number }>(`/api/v1/composes/${id}/image-tasks`, body);
    const noop = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64" });
    const both = await test.user("both", ["host"]);
    await expect(
      both.post("/api/v1/hosts/both/checkin", { session: "s", arches: ["amd64"], capabilities: ["build", "root-shell"], capacity: 2 }),
    ).rejects.toMatchObject({ code: "REQUEST_INVALID" });
    await both.post("/api/v1/hosts/both/checkin", { session: "s", arches: ["amd64"], capabilities: ["image", "build"], capacity: 2 });
    const ids = [(await claim(both, "both", "s"))?.id, (await claim(both, "both", "s"))?.id];
    expect(ids.sort()).toEqual([image.task, noop.task].sort());
  });

  it("refuses image tasks with hostile names and paths, for a compose that is not running, and for files not uploaded", async () => {
    test = await startTestHub(databases, kind, { leaseMs: 60_000 });
    const { id, body } = await runningCompose(test.admin);
    const hostile: [string, unknown][] = [
      ["variant", { ...body, variant: "../../etc" }],
      ["variant", { ...body, variant: "--root=/" }],
      ["arch", { ...body, arch: "amd64/../x" }],
      ["definitionFile", { ...body, definitionFile: "../mini.yaml" }],
      ["definitionFile", { ...body, definitionFile: ".hidden.yaml" }],
      ["snapshot", { ...body, snapshot: [{ ...body.snapshot[0], path: "../../../etc/passwd" }] }],
      ["snapshot", { ...body, snapshot: [{ ...body.snapshot[0], path: "/etc/passwd" }] }],
      ["snapshot", { ...body, snapshot: [{ ...body.snapshot[0], path: "dists/../../x" }] }],
      ["snapshot", { ...body, snapshot: [{ ...body.snapshot[0], path: "pool//x.deb" }] }],
      ["snapshot", { ...body, snapshot: [{ ...body.snapshot[0], path: "pool/.git/config" }] }],
      ["snapshot", { ...body, snapshot: [] }],
      ["definitionFiles", { ...body, definitionFiles: [{ ...body.definitionFiles[0], path: "../../../root/.ssh/authorized_keys" }] }],
      ["definitionFiles", { ...body, definitionFiles: [{ ...body.definitionFiles[0], path: "/etc/shadow" }] }],
      ["definitionFiles", { ...body, definitionFiles: [{ ...body.definitionFiles[0], path: "scripts/../../x" }] }],
      ["definitionFiles", { ...body, definitionFiles: [{ ...body.definitionFiles[0], path: "scripts/" }] }],
      ["definitionFiles", { ...body, definitionFiles: Array(1001).fill(body.definitionFiles[0]) }],
      ["state", { ...body, state: ["not", "an", "object"] }],
      ["state", { ...body, state: "codename: trixie" }],
      ["state", { ...body, state: null }],
      ["state", { ...body, state: { blob: "x".repeat(4 * 1024 * 1024) } }],
    ];
    for (const [field, request] of hostile)
      await expect(test.admin.post(`/api/v1/composes/${id}/image-tasks`, request), field).rejects.toMatchObject({
        code: "REQUEST_INVALID",
      });
    await expect(
      test.admin.post(`/api/v1/composes/${id}/image-tasks`, { ...body, snapshot: [body.snapshot[0], body.snapshot[0]] }),
    ).rejects.toMatchObject({ code: "PATH_INVALID" });
    const file = body.definitionFiles[0]!;
    const conflicts = [
      { ...body, definitionFiles: [file, file] },
      // would overwrite the definition itself on the builder
      { ...body, definitionFiles: [{ ...file, path: body.definitionFile }] },
      // a file that is also another's directory
      { ...body, definitionFiles: [file, { ...file, path: "scripts" }] },
      { ...body, snapshot: [body.snapshot[0], { ...body.snapshot[0], path: "dists/mini-base/InRelease/x" }] },
    ];
    for (const request of conflicts)
      await expect(test.admin.post(`/api/v1/composes/${id}/image-tasks`, request)).rejects.toMatchObject({ code: "PATH_INVALID" });
    await expect(
      test.admin.post(`/api/v1/composes/${id}/image-tasks`, { ...body, snapshot: [{ ...body.snapshot[0], sha256: "1".repeat(64) }] }),
    ).rejects.toMatchObject({ code: "ARTIFACT_MISSING" });
    await expect(
      test.admin.post(`/api/v1/composes/${id}/image-tasks`, { ...body, definitionFiles: [{ ...file, sha256: "2".repeat(64) }] }),
    ).rejects.toMatchObject({ code: "ARTIFACT_MISSING" });
    // the hub checks again behind the API's edge: its names become paths on the builder
    const admin = { userId: 1, name: "admin", perms: new Set(["admin"]) };
    await expect(
      queueComposeImage(test.hub.ctx, admin, { ...body, compose: id, definitionFiles: [{ ...file, path: "../x" }] }),
    ).rejects.toMatchObject({ code: "REQUEST_INVALID" });
    await expect(
      queueComposeImage(test.hub.ctx, admin, { ...body, compose: id, state: [] as unknown as Record<string, unknown> }),
    ).rejects.toMatchObject({ code: "REQUEST_INVALID" });
    await expect(test.admin.post("/api/v1/composes/other-1.0-20261203.0/image-tasks", body)).rejects.toMatchObject({ code: "NOT_FOUND" });
    // someone else's compose
    const mallory = await test.user("mallory", ["build"]);
    await expect(mallory.post(`/api/v1/composes/${id}/image-tasks`, body)).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
    await test.admin.post(`/api/v1/composes/${id}/finish`, { status: "DOOMED" });
    await expect(test.admin.post(`/api/v1/composes/${id}/image-tasks`, body)).rejects.toMatchObject({ code: "COMPOSE_STATE" });
    const tasks = await test.admin.get<unknown[]>("/api/v1/tasks?method=composeImage");
    expect(tasks).toEqual([]);
  });

  it("cancels a compose's image tasks when the compose ends, finished or abandoned, and only that compose's", async () => {
    test = await startTestHub(databases, kind, { leaseMs: 1000 });
    const first = await runningCompose(test.admin, "mini-1.0-20261203.0");
    const second = await runningCompose(test.admin, "mini-1.0-20261203.1");
    // both clients renew their composes until the second one goes away
    clients = setInterval(() => {
      for (const id of [first.id, second.id]) void test.admin.renewCompose(id).catch(() => {});
    }, 100);
    const a1 = await test.admin.post<{ task: number }>(`/api/v1/composes/${first.id}/image-tasks`, first.body);
    const a2 = await test.admin.post<{ task: number }>(`/api/v1/composes/${first.id}/image-tasks`, { ...first.body, variant: "standard" });
    const b1 = await test.admin.post<{ task: number }>(`/api/v1/composes/${second.id}/image-tasks`, second.body);
    const images = await test.user("images", ["host"]);
    await images.post("/api/v1/hosts/images/checkin", { session: "s", arches: ["amd64"], capabilities: ["image"], capacity: 1 });
    expect((await claim(images, "images", "s"))?.id).toBe(a1.task);
    await test.admin.post(`/api/v1/composes/${first.id}/finish`, { status: "DOOMED" });
    const state = async (id: number) => (await test.admin.get<{ state: string }>(`/api/v1/tasks/${id}`)).state;
    expect([await state(a1.task), await state(a2.task), await state(b1.task)]).toEqual(["canceled", "canceled", "free"]);
    // the builder running the first hears at its next heartbeat that the task is no longer its own
    expect(await images.post("/api/v1/hosts/images/heartbeat", { session: "s", tasks: [a1.task] })).toMatchObject({ lost: [a1.task] });
    clearInterval(clients);
    // the second compose's client goes away: its lease lapses, the compose ends and its image task with it
    await until(async () => (await state(b1.task)) === "canceled", 20_000, "the abandoned compose's image task to be canceled");
    expect((await test.admin.getCompose(second.id)).status).toBe("TERMINATED");
  });

  it("retries an image task whose builder vanished on another image builder, as builds are", async () => {
    test = await startTestHub(databases, kind, { leaseMs: 1000 });
    const { id, body } = await runningCompose(test.admin);
    // the compose's client stays: it renews the compose as deb-bootc-compose's heartbeat does
    clients = setInterval(() => void test.admin.renewCompose(id).catch(() => {}), 100);
    const image = await test.admin.post<{ task: number }>(`/api/v1/composes/${id}/image-tasks`, body);
    const first = await test.user("first", ["host"]);
    await first.post("/api/v1/hosts/first/checkin", { session: "s", arches: ["amd64"], capabilities: ["image"], capacity: 1 });
    expect((await claim(first, "first", "s"))?.id).toBe(image.task);
    // the first builder is killed: no heartbeat, its lease lapses and the task is free again
    const second = await test.user("second", ["host"]);
    await second.post("/api/v1/hosts/second/checkin", { session: "t", arches: ["amd64"], capabilities: ["image"], capacity: 1 });
    const retried = await until(async () => (await claim(second, "second", "t")) ?? undefined, 20_000);
    expect(retried).toMatchObject({ id: image.task, method: "composeImage", attempts: 1 });
    await expect(first.post(`/api/v1/hosts/first/tasks/${image.task}/complete`, { session: "s" })).rejects.toMatchObject({
      code: "TASK_NOT_OWNED",
    });
    expect((await test.admin.getCompose(id)).status).toBe("STARTED");
  });
});
