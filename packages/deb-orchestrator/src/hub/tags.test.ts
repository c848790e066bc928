import { describe, expect, it } from "vitest";
import { submitBuild, waitForTask, writeSourcePackage } from "../testing/test-builds.js";
import { databaseKinds, startNoopBuilder, startTestHub, type TestHub, useBuilders, useDatabases } from "../testing/test-hub.js";

const databases = useDatabases();

describe.each(databaseKinds)("tags, scratch builds and priorities on %s", (kind) => {
  let test: TestHub;
  const builders = useBuilders(() => test);

  async function withBuilder() {
    builders.push(await startNoopBuilder(test, "b1"));
  }

  it("follows inheritance for the latest build and the repository, the tag's own build winning", async () => {
    test = await startTestHub(databases, kind);
    await test.admin.post("/api/v1/tags", { name: "base" });
    await test.admin.post("/api/v1/tags", { name: "updates", parents: ["base"] });
    await test.admin.post("/api/v1/targets", { name: "to-base", buildTag: "base", destTag: "base" });
    await test.admin.post("/api/v1/targets", { name: "to-updates", buildTag: "base", destTag: "updates" });
    await withBuilder();
    for (const [target, name, version] of [
      ["to-base", "alpha", "1.0-1"],
      ["to-base", "beta", "1.0-1"],
      ["to-updates", "beta", "1.1-1"],
    ] as const)
      expect(
        (await waitForTask(test.admin, await submitBuild(test.admin, target, await writeSourcePackage(test.dir, name, version)))).state,
      ).toBe("closed");
    const latest = await test.admin.get<{ name: string; version: string; tag: string }[]>("/api/v1/tags/updates/builds?latest=true");
    expect(latest.map((b) => [b.name, b.version, b.tag])).toEqual([
      ["alpha", "1.0-1", "base"],
      ["beta", "1.1-1", "updates"],
    ]);
    expect((await test.admin.get<{ version: string }>("/api/v1/tags/base/latest/beta")).version).toBe("1.0-1");
    const packages = await (await test.anonymous.raw("GET", "/repos/updates/latest/dists/updates/main/binary-amd64/Packages")).text();
    expect(packages.match(/^Version: .*$/gm)?.sort()).toEqual(["Version: 1.0-1", "Version: 1.1-1"]);
    // tagging by hand: beta 1.1-1 also into base, which regenerates base's repository
    const { repoTask } = await test.admin.post<{ repoTask: number }>("/api/v1/tags/base/builds", { build: "beta/1.1-1" });
    expect((await waitForTask(test.admin, repoTask)).state).toBe("closed");
    expect((await test.admin.get<{ version: string }>("/api/v1/tags/base/latest/beta")).version).toBe("1.1-1");
    const snapshots = await (await test.anonymous.raw("GET", "/repos/base/")).text();
    expect(snapshots.split("\n").filter(Boolean)).toEqual(["1", "2", "3", "latest"]);
  }, 60_000);

  it("keeps scratch builds out of the build records and tags", async () => {
    test = await startTestHub(databases, kind);
    await test.admin.post("/api/v1/tags", { name: "base" });
    await test.admin.post("/api/v1/targets", { name: "t", buildTag: "base", destTag: "base" });
    await withBuilder();
    const taskId = await submitBuild(test.admin, "t", await writeSourcePackage(test.dir, "trial", "0.1-1"), { scratch: true });
    const task = await waitForTask(test.admin, taskId);
    expect(task.state).toBe("closed");
    expect(await test.admin.get("/api/v1/builds")).toEqual([]);
    const detail = await test.admin.get<{ children: { id: number; method: string }[] }>(`/api/v1/tasks/${taskId}`);
    expect(detail.children.map((c) => c.method)).toEqual(["buildArch"]);
    const files = await test.admin.get<{ files: { name: string }[] }>(`/api/v1/tasks/${detail.children[0]!.id}`);
    expect(files.files.map((f) => f.name)).toEqual(["trial_0.1-1_amd64.deb"]);
  });

  it("hands out the most urgent task first, then the oldest", async () => {
    test = await startTestHub(databases, kind);
    const host = await test.user("b1", ["host"]);
    await host.post("/api/v1/hosts/b1/checkin", { session: "s", arches: ["amd64"], capacity: 10 });
    const low = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64", priority: 30 });
    const first = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64", priority: 10 });
    const second = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64", priority: 10 });
    const order = [];
    for (let i = 0; i < 3; i++)
      order.push((await host.post<{ task: { id: number } }>("/api/v1/hosts/b1/claim", { session: "s", waitMs: 100 })).task.id);
    expect(order).toEqual([first.task, second.task, low.task]);
  });
});
