import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RawHubClient } from "../testing/raw-hub-client.js";
import { submitBuild, until, waitForTask, writeSourcePackage } from "../testing/test-builds.js";
import { databaseKinds, startNoopBuilder, startTestHub, type TestHub, useBuilders, useDatabases } from "../testing/test-hub.js";
import type { DeleteBuildResult } from "./build-delete.js";

const databases = useDatabases();

describe.each(databaseKinds)("administration on %s", (kind) => {
  let test: TestHub;
  const builders = useBuilders(() => test);

  async function startBuilder(name: string) {
    const builder = await startNoopBuilder(test, name, { capacity: 2 });
    builders.push(builder);
    return builder;
  }

  async function setup() {
    test = await startTestHub(databases, kind);
    await test.admin.post("/api/v1/tags", { name: "trixie-build", arches: ["amd64"] });
    await test.admin.post("/api/v1/tags", { name: "trixie-candidate", arches: ["amd64"] });
    // inherits the candidate tag and has a repository of its own: it shows the candidate's builds too
    await test.admin.post("/api/v1/tags", { name: "trixie-updates", arches: ["amd64"], parents: ["trixie-candidate"] });
    await test.admin.post("/api/v1/targets", { name: "trixie", buildTag: "trixie-build", destTag: "trixie-candidate" });
    await startBuilder("b1");
  }

  async function build(source: string, version: string, extra: Record<string, unknown> = {}) {
    const dir = join(test.dir, `src-${source}-${version}`);
    await mkdir(dir, { recursive: true });
    const pkg = await writeSourcePackage(dir, source, version);
    const task = await submitBuild(test.admin, "trixie", pkg, extra);
    expect((await waitForTask(test.admin, task)).state).toBe("closed");
    return { task, pkg };
  }

  async function packagesOf(tag: string): Promise<string> {
    const response = await test.anonymous.raw("GET", `/repos/${tag}/latest/dists/${tag}/main/binary-amd64/Packages`).catch(() => undefined);
    return (await response?.text()) ?? "";
  }

  async function stored(sha256: string): Promise<boolean> {
    return test.hub.ctx.store.has(sha256);
  }

  it("deletes a build: admin only, untagged everywhere, repositories regenerated, artifacts kept; it may be built again", async () => {
    await setup();
    await build("hello", "2.10-3");
    await test.admin.post("/api/v1/tags/trixie-updates/regen");
    await until(async () => (await packagesOf("trixie-updates")).includes("Package: hello"), 20_000, "trixie-updates to show hello");
    expect(await packagesOf("trixie-candidate")).toMatch(/^Package: hello$/m);
    const before = await test.admin.get<{ binaries: { sha256: string }[]; source: { files: { sha256: string }[] } }>(
      `/api/v1/builds/${encodeURIComponent("hello/2.10-3")}`,
    );

    const tagger = await test.user("tagger", ["tag", "build"]);
    await expect(tagger.http("DELETE", `/api/v1/builds/${encodeURIComponent("hello/2.10-3")}`)).rejects.toMatchObject({
      code: "PERMISSION_DENIED",
    });
    const deleted = await test.admin.http<DeleteBuildResult>("DELETE", `/api/v1/builds/${encodeURIComponent("hello/2.10-3")}`);
    expect(deleted).toMatchObject({ name: "hello", version: "2.10-3", untagged: ["trixie-candidate"], artifacts: "kept", removed: [] });
    expect(deleted.repoTasks).toHaveLength(2); // the candidate tag and trixie-updates, which inherits it
    for (const task of deleted.repoTasks) expect((await waitForTask(test.admin, task)).state).toBe("closed");
    expect(await packagesOf("trixie-candidate")).not.toContain("hello");
    expect(await packagesOf("trixie-updates")).not.toContain("hello");

    const after = await test.admin.get<{ state: string; tags: string[] }>(`/api/v1/builds/${encodeURIComponent("hello/2.10-3")}`);
    expect(after).toMatchObject({ state: "deleted", tags: [] });
    expect(await test.admin.get("/api/v1/tags/trixie-candidate/builds")).toEqual([]);
    await expect(test.admin.get("/api/v1/tags/trixie-candidate/latest/hello")).rejects.toMatchObject({ code: "NOT_FOUND" });
    for (const sha of [...before.binaries, ...before.source.files].map((f) => f.sha256)) expect(await stored(sha)).toBe(true);
    // deleted is final: no second delete, no tagging
    await expect(test.admin.http("DELETE", `/api/v1/builds/${encodeURIComponent("hello/2.10-3")}`)).rejects.toMatchObject({
      code: "TASK_STATE",
    });
    await expect(test.admin.post("/api/v1/tags/trixie-candidate/builds", { build: "hello/2.10-3" })).rejects.toMatchObject({
      code: "TASK_STATE",
    });
    const events = await test.admin.get<{ kind: string; data: Record<string, unknown> }[]>("/api/v1/events?type=build");
    expect(events.at(-1)).toMatchObject({ kind: "build.state", data: { state: "deleted", previous: "complete", artifacts: "kept" } });

    // the same name and version may be built again
    await build("hello", "2.10-3");
    expect(await test.admin.get(`/api/v1/builds/${encodeURIComponent("hello/2.10-3")}`)).toMatchObject({
      state: "complete",
      tags: ["trixie-candidate"],
    });
  });

  it("refuses to delete a build that is still building", async () => {
    await setup();
    for (const builder of builders.splice(0)) await builder.stop(100);
    const dir = join(test.dir, "src");
    await mkdir(dir, { recursive: true });
    const task = await submitBuild(test.admin, "trixie", await writeSourcePackage(dir, "zlib", "1.3-1"));
    await until(
      async () => (await test.admin.get<{ state: string }[]>("/api/v1/builds")).find((b) => b.state === "building"),
      20_000,
      "the build record",
    );
    await expect(test.admin.http("DELETE", `/api/v1/builds/${encodeURIComponent("zlib/1.3-1")}`)).rejects.toMatchObject({
      code: "TASK_STATE",
      hint: `cancel its task first: deb-orchestrator cancel ${task}`,
    });
  });

  it("removes the artifacts only the deleted build refers to, keeps shared ones, and its logs", async () => {
    await setup();
    // zstd: nothing else refers to its files
    await build("zstd", "1.5.7-1");
    const zstd = await test.admin.get<{ task: number; binaries: { sha256: string }[]; source: { files: { sha256: string }[] } }>(
      `/api/v1/builds/${encodeURIComponent("zstd/1.5.7-1")}`,
    );
    const own = [...zstd.binaries, ...zstd.source.files].map((f) => f.sha256);
    const archTask = (await test.admin.get<{ id: number; method: string }[]>(`/api/v1/tasks?parent=${zstd.task}`)).find(
      (t) => t.method === "buildArch",
    )!.id;
    expect((await test.admin.get<{ name: string }[]>(`/api/v1/tasks/${archTask}/logs`)).map((l) => l.name)).toContain("build.log");
    const removed = await test.admin.http<DeleteBuildResult>(
      "DELETE",
      `/api/v1/builds/${encodeURIComponent("zstd/1.5.7-1")}?artifacts=remove`,
    );
    expect(removed.artifacts).toBe("removed");
    expect([...removed.removed].sort()).toEqual([...new Set(own)].sort());
    expect(removed.shared).toEqual([]);
    for (const sha of own) expect(await stored(sha)).toBe(false);
    await expect(test.anonymous.raw("GET", `/api/v1/artifacts/${own[0]}`)).rejects.toMatchObject({ code: "ARTIFACT_MISSING" });
    expect(await test.admin.get(`/api/v1/tasks/${archTask}/logs`)).toEqual([]);

    // bash: a scratch build of the same source refers to the same source files (and makes the same .deb)
    const { pkg } = await build("bash", "5.2.37-1");
    const scratch = await submitBuild(test.admin, "trixie", pkg, { scratch: true });
    expect((await waitForTask(test.admin, scratch)).state).toBe("closed");
    const bash = await test.admin.get<{ binaries: { sha256: string }[]; source: { files: { sha256: string }[] } }>(
      `/api/v1/builds/${encodeURIComponent("bash/5.2.37-1")}`,
    );
    const kept = await test.admin.http<DeleteBuildResult>(
      "DELETE",
      `/api/v1/builds/${encodeURIComponent("bash/5.2.37-1")}?artifacts=remove`,
    );
    const shared = [...bash.binaries, ...bash.source.files].map((f) => f.sha256);
    expect([...kept.shared].sort()).toEqual([...new Set(shared)].sort());
    expect(kept.removed).toEqual([]);
    for (const sha of shared) expect(await stored(sha)).toBe(true);
  });

  it("shows tag added and removed events in a build's history in the web UI", async () => {
    await setup();
    const { task } = await build("coreutils", "9.7-3");
    await test.admin.http("DELETE", `/api/v1/tags/trixie-candidate/builds?build=${encodeURIComponent("coreutils/9.7-3")}`);
    await test.admin.post("/api/v1/tags/trixie-updates/builds", { build: "coreutils/9.7-3", regen: false });
    const id = (await test.admin.get<{ id: number }>(`/api/v1/builds/${encodeURIComponent("coreutils/9.7-3")}`)).id;
    expect((await test.admin.get<{ task: number }>(`/api/v1/builds/${id}`)).task).toBe(task);
    const page = await (await fetch(`${test.hub.url}/builds/${id}`)).text();
    const history = page.slice(page.indexOf("<h2>History</h2>"));
    // newest first: added to trixie-updates, removed from the candidate tag, added to it by the build's tagBuild
    const rows = [...history.matchAll(/<code>(tag\.build-(?:added|removed))<\/code> <a href="\/tags\/([^"]+)">/g)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual([
      ["tag.build-added", "trixie-updates"],
      ["tag.build-removed", "trixie-candidate"],
      ["tag.build-added", "trixie-candidate"],
    ]);
    // deleting it adds one more removal and the deleted state
    await test.admin.http("DELETE", `/api/v1/builds/${id}`);
    const after = await (await fetch(`${test.hub.url}/builds/${id}`)).text();
    expect(after).toMatch(/<code>tag\.build-removed<\/code> <a href="\/tags\/trixie-updates">/);
    expect(after).toContain("state=deleted");
  });

  it("revokes tokens: by their owner or an admin, refused at once, listed without secrets", async () => {
    test = await startTestHub(databases, kind);
    const alice = await test.user("alice", ["build"]);
    const { token: second, id: secondId } = await test.admin.post<{ token: string; id: number }>("/api/v1/users/alice/tokens", {
      label: "ci",
    });
    const aliceCi = new RawHubClient({ url: test.hub.url, token: second });
    await test.user("bob", ["build"]);
    const bobTokens = await test.admin.get<{ id: number }[]>("/api/v1/users/bob/tokens");
    const listed = await alice.get<{ id: number; label: string; revoked: boolean }[]>("/api/v1/users/alice/tokens");
    expect(listed.map((t) => [t.label, t.revoked])).toEqual([
      ["test", false],
      ["ci", false],
    ]);
    expect(JSON.stringify(listed)).not.toContain(second);
    await expect(alice.get("/api/v1/users/bob/tokens")).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
    await expect(alice.post(`/api/v1/tokens/${bobTokens[0]!.id}/revoke`)).rejects.toMatchObject({ code: "PERMISSION_DENIED" });

    expect(await aliceCi.get("/api/v1/whoami")).toMatchObject({ name: "alice" });
    expect(await alice.post(`/api/v1/tokens/${secondId}/revoke`)).toEqual({ ok: true, id: secondId, user: "alice" });
    await expect(aliceCi.get("/api/v1/whoami")).rejects.toMatchObject({ code: "AUTH_REQUIRED" });
    expect(await alice.get("/api/v1/whoami")).toMatchObject({ name: "alice" });
    expect(
      (await alice.get<{ id: number; revoked: boolean }[]>("/api/v1/users/alice/tokens")).find((t) => t.id === secondId),
    ).toMatchObject({
      revoked: true,
    });
    // an admin revokes anyone's token
    await test.admin.post(`/api/v1/tokens/${bobTokens[0]!.id}/revoke`);
    await expect(test.admin.post("/api/v1/tokens/99999/revoke")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("disables a user: tokens refused, its builders' tasks freed at once; never the last admin", async () => {
    test = await startTestHub(databases, kind, { leaseMs: 120_000 });
    const b1 = await startBuilder("b1");
    const { task } = await test.admin.post<{ task: number }>("/api/v1/tasks", { method: "noop", arch: "amd64", sleepMs: 600_000 });
    await until(async () => b1.activeTasks.includes(task), 10_000, "b1 to run the task");
    const answer = await test.admin.post<{ disabled: boolean; freed: number[] }>("/api/v1/users/b1/disable");
    expect(answer).toEqual({ user: "b1", disabled: true, freed: [task] });
    const row = await test.hub.ctx.db.selectFrom("tasks").select(["state", "host_id"]).where("id", "=", task).executeTakeFirstOrThrow();
    expect(row).toEqual({ state: "free", host_id: null });
    const b1Token = (await test.admin.post<{ token: string }>("/api/v1/users/b1/tokens", {})).token;
    const b1Client = new RawHubClient({ url: test.hub.url, token: b1Token });
    await expect(b1Client.get("/api/v1/whoami")).rejects.toMatchObject({ code: "AUTH_REQUIRED" });
    expect((await test.admin.get<{ name: string; disabled: boolean }[]>("/api/v1/users")).find((u) => u.name === "b1")?.disabled).toBe(
      true,
    );

    await expect(test.admin.post("/api/v1/users/admin/disable")).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
    await test.admin.post("/api/v1/users/b1/enable");
    expect(await b1Client.get("/api/v1/whoami")).toMatchObject({ name: "b1" });
  });
});
