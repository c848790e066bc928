import { CodedError } from "@debian-bootc/core";
import { describe, expect, it } from "vitest";
import { createTarget, submitBuild, until, waitForTask, writeSourcePackage } from "../testing/test-builds.js";
import { databaseKinds, startNoopBuilder, startTestHub, type TestHub, useBuilders, useDatabases } from "../testing/test-hub.js";

const databases = useDatabases();

async function failure(promise: Promise<unknown>): Promise<{ code: string; status: unknown }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CodedError);
  return { code: (error as CodedError).code, status: (error as CodedError).details?.status };
}

const definition = "name: debian-bootc-minimal\nversion: '13.0'\nsuite: trixie\n";

describe.each(databaseKinds)("composes recorded by the hub on %s", (kind) => {
  let test: TestHub;
  const builders = useBuilders(() => test);

  /** A compose's compose.phase events in order: the phase, its status, whether they carry its end. */
  async function phaseEvents(composeId: string) {
    const rows = await test.hub.ctx.db.selectFrom("events").select("data").where("kind", "=", "compose.phase").orderBy("id").execute();
    return rows
      .map((e) => JSON.parse(e.data) as { compose: string; phase: string; status: string; completedAt: number | null })
      .filter((e) => e.compose === composeId)
      .map((e) => ({ phase: e.phase, status: e.status, ended: e.completedAt !== null }));
  }

  it("keeps a compose's phases, logs, images, packages with their builds, SBOM and diff", async () => {
    test = await startTestHub(databases, kind);
    await createTarget(test.admin);
    builders.push(await startNoopBuilder(test, "b1"));
    expect(
      (await waitForTask(test.admin, await submitBuild(test.admin, "t", await writeSourcePackage(test.dir, "hello", "1.0-1")))).state,
    ).toBe("closed");
    const [build] = await test.admin.listBuilds({ name: "hello" });
    const composer = await test.user("composer", ["build"]);

    const id = "debian-bootc-minimal-13.0-20261203.0";
    const created = await composer.createCompose({ id, name: "debian-bootc-minimal", definition, phases: ["init", "pkgset", "rootfs"] });
    expect(created).toMatchObject({ id, status: "STARTED", owner: "composer", completedAt: null });
    expect(created.definitionHash).toMatch(/^[0-9a-f]{64}$/);
    await composer.reportComposePhase(id, "init", { status: "done", startedAt: 1000, completedAt: 2000, log: "init log\n" });
    await composer.reportComposePhase(id, "pkgset", { status: "running" });
    expect((await composer.getCompose(id)).phases.map((p) => [p.name, p.status])).toEqual([
      ["init", "done"],
      ["pkgset", "running"],
      ["rootfs", "pending"],
    ]);
    await composer.reportComposePhase(id, "pkgset", { status: "done", log: "resolved 2 packages\n" });
    // a phase the list did not name joins at the end
    await composer.reportComposePhase(id, "metadata", { status: "failed-failable", error: { code: "X", message: "no room" } });
    const finished = await composer.finishCompose(id, {
      status: "FINISHED_INCOMPLETE",
      images: [
        {
          variant: "minimal",
          arch: "amd64",
          kind: "oci",
          path: "compose/minimal/amd64/oci",
          digest: `sha256:${"a".repeat(64)}`,
          size: 1234,
        },
      ],
      packages: [
        { variant: "minimal", arch: "amd64", name: "hello", version: "1.0-1", packageArch: "amd64", build: build!.id },
        // a build id of another hub: kept as a package, without a link
        { variant: "minimal", arch: "amd64", name: "libc6", version: "2.41-12", packageArch: "amd64", build: 999_999 },
      ],
      sbom: { "minimal.amd64": { spdxVersion: "SPDX-2.3" } },
      diff: { from: "a", to: id, summary: { added: 1 } },
    });
    expect(finished).toMatchObject({ status: "FINISHED_INCOMPLETE", packages: 2, images: 1 });
    expect(finished.completedAt).not.toBeNull();

    const view = await test.anonymous.getCompose(id);
    expect(view.phases.map((p) => [p.name, p.status])).toEqual([
      ["init", "done"],
      ["pkgset", "done"],
      ["rootfs", "pending"],
      ["metadata", "failed-failable"],
    ]);
    expect(view.phases[0]).toMatchObject({ startedAt: 1000, completedAt: 2000, error: null });
    expect(view.phases[3]!.error).toEqual({ code: "X", message: "no room" });
    expect(view.images).toEqual([
      { variant: "minimal", arch: "amd64", kind: "oci", path: "compose/minimal/amd64/oci", digest: `sha256:${"a".repeat(64)}`, size: 1234 },
    ]);
    expect(view.packages.map((p) => [p.name, p.build])).toEqual([
      ["hello", build!.id],
      ["libc6", null],
    ]);
    expect(view).toMatchObject({ definition, hasSbom: true, diff: { summary: { added: 1 } } });
    expect(await test.anonymous.getComposeSbom(id)).toEqual({ "minimal.amd64": { spdxVersion: "SPDX-2.3" } });
    expect(await test.anonymous.composePhaseLog(id, "pkgset")).toBe("resolved 2 packages\n");
    expect((await test.anonymous.listComposes({ name: "debian-bootc-minimal" })).map((c) => c.id)).toEqual([id]);
    expect(await test.anonymous.listComposes({ status: "FINISHED" })).toEqual([]);
    const events = await test.admin.listEvents({ type: "compose" });
    expect(events.map((e) => e.kind)).toEqual(["compose.state", ...Array(4).fill("compose.phase"), "compose.state"]);
  }, 60_000);

  it("keeps where a compose was published, and refuses a hostile one at the edge", async () => {
    test = await startTestHub(databases, kind);
    const composer = await test.user("composer", ["build"]);
    const id = "debian-bootc-minimal-13.0-20261203.7";
    await composer.createCompose({ id, name: "debian-bootc-minimal", definition });
    const commit = {
      variant: "minimal",
      arch: "amd64",
      ref: "debian-bootc-minimal/amd64/minimal",
      commit: "d".repeat(64),
      delta: true,
      changed: true,
    };
    const good = { url: "https://updates.example.org/minimal/", commits: [commit] };
    const hostile = [
      { ...good, commits: [{ ...commit, ref: "--repo=/etc" }] },
      { ...good, commits: [{ ...commit, ref: "a/../../etc" }] },
      { ...good, commits: [{ ...commit, commit: "z".repeat(64) }] },
      { ...good, commits: [{ ...commit, commit: "d".repeat(63) }] },
      { ...good, url: "javascript:alert(1)" },
      { ...good, url: "file:///srv/ostree" },
      { ...good, url: 'https://x/"><script>' },
      { ...good, commits: [] },
      { ...good, commits: Array(1001).fill(commit) },
    ];
    for (const published of hostile)
      expect(await failure(composer.finishCompose(id, { status: "FINISHED", published })), JSON.stringify(published).slice(0, 80)).toEqual({
        code: "REQUEST_INVALID",
        status: 400,
      });
    // nothing of it was kept: the compose still runs, and ends with the good one
    expect((await composer.getCompose(id)).status).toBe("STARTED");
    await composer.finishCompose(id, { status: "FINISHED", published: good });
    expect((await test.anonymous.getCompose(id)).published).toEqual(good);
    // one that published nothing (no channel) says so
    const other = "debian-bootc-minimal-13.0-20261203.8";
    await composer.createCompose({ id: other, name: "debian-bootc-minimal", definition });
    await composer.finishCompose(other, { status: "FINISHED" });
    expect((await test.anonymous.getCompose(other)).published).toBeNull();
  }, 60_000);

  it("refuses reports from others, after the end, and hostile IDs; reads follow --private-read", async () => {
    test = await startTestHub(databases, kind, { publicRead: false });
    const id = "debian-bootc-minimal-13.0-20261203.1";
    expect(await failure(test.anonymous.createCompose({ id, name: "m", definition }))).toMatchObject({ code: "AUTH_REQUIRED" });
    const reader = await test.user("reader", []);
    expect(await failure(reader.createCompose({ id, name: "m", definition }))).toMatchObject({ code: "PERMISSION_DENIED" });
    const composer = await test.user("composer", ["build"]);
    const other = await test.user("other", ["build"]);
    await composer.createCompose({ id, name: "m", definition });
    expect(await failure(composer.createCompose({ id, name: "m", definition }))).toMatchObject({ code: "ALREADY_EXISTS", status: 409 });
    expect(await failure(other.reportComposePhase(id, "init", { status: "done" }))).toMatchObject({ code: "PERMISSION_DENIED" });
    expect(await failure(other.finishCompose(id, { status: "FINISHED" }))).toMatchObject({ code: "PERMISSION_DENIED" });
    // the path checks refuse what the contract does not allow before any handler runs
    for (const bad of ["../etc", ".hidden", "a/b"]) {
      const response = await composer
        .raw("PUT", `/api/v1/composes/${encodeURIComponent(bad)}/phases/init`, {
          body: JSON.stringify({ status: "done" }),
          headers: { "content-type": "application/json" },
        })
        .catch((e: CodedError) => e);
      expect((response as CodedError).details?.status, bad).toBe(400);
    }
    expect(await failure(composer.reportComposePhase(id, "Init; rm", { status: "done" }))).toMatchObject({ status: 400 });
    expect(await failure(composer.getCompose("no-such-compose"))).toMatchObject({ code: "NOT_FOUND" });
    await composer.reportComposePhase(id, "rootfs", { status: "running" });
    // a compose that ends interrupted leaves its running phase interrupted
    await composer.finishCompose(id, { status: "TERMINATED" });
    expect(await failure(composer.reportComposePhase(id, "rootfs", { status: "done" }))).toMatchObject({
      code: "COMPOSE_STATE",
      status: 409,
    });
    expect(await failure(composer.finishCompose(id, { status: "FINISHED" }))).toMatchObject({ code: "COMPOSE_STATE" });
    expect(await failure(test.anonymous.getCompose(id))).toMatchObject({ code: "AUTH_REQUIRED" });
    expect(await failure(test.anonymous.listComposes())).toMatchObject({ code: "AUTH_REQUIRED" });
    const view = await reader.getCompose(id);
    expect(view).toMatchObject({ status: "TERMINATED", hasSbom: false, diff: null, images: [], packages: [] });
    expect(view.phases).toMatchObject([{ name: "rootfs", status: "interrupted" }]);
    // with an event, as a report would have: an open compose page shows the phase ended
    expect(await phaseEvents(id)).toEqual([
      { phase: "rootfs", status: "running", ended: false },
      { phase: "rootfs", status: "interrupted", ended: true },
    ]);
    expect(await failure(reader.getComposeSbom(id))).toMatchObject({ code: "NOT_FOUND" });
  }, 60_000);

  it("ends a compose whose client stopped renewing its lease TERMINATED, its running phase interrupted (abandoned)", async () => {
    test = await startTestHub(databases, kind, { leaseMs: 1000 });
    const composer = await test.user("composer", ["build"]);
    const id = "debian-bootc-minimal-13.0-20261203.2";
    await composer.createCompose({ id, name: "debian-bootc-minimal", definition, phases: ["init", "rootfs", "ostree"] });
    await composer.reportComposePhase(id, "init", { status: "done" });
    await composer.reportComposePhase(id, "rootfs", { status: "running" });
    // a long phase reports nothing, but its client's heartbeats keep the compose for several lease periods
    let events = 0;
    const stop = Date.now() + 3000;
    while (Date.now() < stop) {
      expect((await composer.renewCompose(id)).leaseMs).toBe(1000);
      events++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(events).toBeGreaterThan(5);
    expect((await composer.getCompose(id)).status).toBe("STARTED");
    // the client is killed: nothing renews the lease any more
    const ended = await until(async () => {
      const view = await composer.getCompose(id);
      return view.status === "STARTED" ? undefined : view;
    }, 20_000);
    expect(ended.status).toBe("TERMINATED");
    expect(ended.completedAt).not.toBeNull();
    expect(ended.phases.map((p) => [p.name, p.status, p.error?.code ?? null])).toEqual([
      ["init", "done", null],
      ["rootfs", "interrupted", "COMPOSE_ABANDONED"],
      ["ostree", "pending", null],
    ]);
    // a client that comes back late cannot change it
    expect(await failure(composer.reportComposePhase(id, "rootfs", { status: "done" }))).toMatchObject({ code: "COMPOSE_STATE" });
    expect(await failure(composer.renewCompose(id))).toMatchObject({ code: "COMPOSE_STATE" });
    expect(await failure(composer.finishCompose(id, { status: "FINISHED" }))).toMatchObject({ code: "COMPOSE_STATE" });
    const history = await test.hub.ctx.db.selectFrom("events").select(["kind", "data"]).where("kind", "=", "compose.state").execute();
    expect(history.map((e) => JSON.parse(e.data))).toContainEqual({ compose: id, status: "TERMINATED", reason: "abandoned" });
    expect((await phaseEvents(id)).filter((e) => e.phase === "rootfs")).toEqual([
      { phase: "rootfs", status: "running", ended: false },
      { phase: "rootfs", status: "interrupted", ended: true },
    ]);
  }, 60_000);
});
