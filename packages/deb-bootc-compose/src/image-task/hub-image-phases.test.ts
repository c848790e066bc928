import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { type ClaimedTask, HubClient } from "@debian-bootc/deb-orchestrator";
import { type RunningHub, startHub } from "@debian-bootc/deb-orchestrator/local";
import { generateOpenPgpKey } from "@debian-bootc/debian";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrchestratorConnection } from "../build/orchestrator-connection.js";
import { type ComposeEvent, ComposeEvents } from "../compose/compose-events.js";
import { ComposeState, type PkgsetState } from "../compose/compose-state.js";
import { HubComposeRecord } from "../compose/hub-record.js";
import { type Phase, runCompose } from "../compose/phase-engine.js";
import { loadDefinition } from "../definition.js";
import { channelRef, ostreeRef, writeCommitRecord } from "../ostree/ostree-phase.js";
import { minimalVariantDefinition } from "./__fixtures__/minimal-compose.js";
import { createHubImagePhases } from "./hub-image-phases.js";
import type { DiskTaskResult, ImageTaskResult } from "./task-result.js";

/**
 * --images-on hub against a hub in this process: the test is the builder (it claims the composeImage task
 * through the builder API and completes or fails it with small files), and checks what the client sent,
 * downloaded and placed. The package side is a stand-in phase that leaves a tiny snapshot in the state.
 */

const SHA = "b".repeat(64);
let work: string;
let hub: RunningHub;
let adminToken: string;
let builder: HubClient;
let n = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "hub-image-phases-"));
  hub = await startHub({ db: `sqlite:${join(work, "hub.db")}`, dataDir: join(work, "hub"), leaseMs: 60_000, buildBase: false });
  adminToken = (await readFile(hub.adminTokenFile, "utf8")).trim();
  const admin = new HubClient({ url: hub.url, token: adminToken });
  await admin.createUser("imager", ["host"]);
  builder = new HubClient({ url: hub.url, token: (await admin.createToken("imager", { label: "test" })).token });
  await builder.checkin("imager", { session: "s", arches: ["amd64"], capabilities: ["image"], capacity: 4 });
  await builder.checkin("imager2", { session: "s", arches: ["amd64"], capabilities: ["image"], capacity: 4 });
}, 60_000);
afterAll(async () => {
  await hub?.close();
  await rm(work, { recursive: true, force: true });
});

/**
 * A definition (the minimal example's minimal variant, or both, OCI outputs only, plus `extra` lines) and a
 * stand-in for the package side; `bootTest` as the compose command passes it when its test phase runs.
 */
async function setup({
  withStandard = false,
  bootTest,
  extra = "",
  outputs = "[oci, ociarchive]",
  ostreePhase,
  beforeLoad,
}: {
  withStandard?: boolean;
  bootTest?: { marker: true };
  extra?: string;
  outputs?: string;
  /** A stand-in for the ostree phase (placing and signing a commit needs ostree in a runroot: the system test's). */
  ostreePhase?: Phase;
  /** Writes files the definition refers to into its directory. */
  beforeLoad?: (dir: string) => Promise<void>;
} = {}) {
  const variants = withStandard ? ["minimal", "standard"] : ["minimal"];
  const dir = join(work, `c${n++}`);
  await mkdir(join(dir, "files"), { recursive: true });
  await beforeLoad?.(dir);
  let text = `${await minimalVariantDefinition(outputs, { withStandard })}${extra}`;
  // a compose ID of its own on the shared hub
  text = text.replace(/^version: .*$/m, `version: "13.${n}"`);
  text = text.replace(/^files:\n/m, 'files:\n  - dest: /etc/motd\n    src: files/motd.txt\n    mode: "0644"\n');
  await writeFile(join(dir, "files", "motd.txt"), "hello\n");
  await writeFile(join(dir, "mini.yaml"), text);
  const loaded = await loadDefinition(join(dir, "mini.yaml"));
  const repo = join(dir, "repo");
  await mkdir(join(repo, "pool", "main", "s"), { recursive: true });
  for (const v of variants) {
    await mkdir(join(repo, "dists", `trixie-${v}`), { recursive: true });
    await writeFile(join(repo, "dists", `trixie-${v}`, "InRelease"), `Suite: trixie-${v}\n`);
  }
  await writeFile(join(repo, "pool", "main", "s", "systemd_1_amd64.deb"), "not really a deb\n");
  const key = await generateOpenPgpKey({ name: "snapshot", email: "s@example.invalid" });
  await writeFile(join(repo, "snapshot-key.asc"), key.publicKey);
  const packageSide: Phase = {
    name: "snapshot-repo",
    async run(ctx) {
      ctx.state.set("pkgset", {
        sets: Object.fromEntries(
          variants.map((v) => [v, { amd64: [{ name: "systemd", version: "1", architecture: "amd64", sha256: SHA }] }]),
        ),
      } as unknown as PkgsetState);
      ctx.state.set("snapshot", {
        url: `file://${repo}`,
        path: repo,
        suites: Object.fromEntries(variants.map((v) => [v, `trixie-${v}`])),
        components: ["main"],
        codename: "trixie",
        keyring: join(repo, "snapshot-keyring.gpg"),
        armoredKey: join(repo, "snapshot-key.asc"),
        fingerprint: key.fingerprint,
        mmdebstrapVariant: "apt",
        packages: Object.fromEntries(variants.map((v) => [v, { amd64: [{ name: "systemd", version: "1", architecture: "amd64" }] }])),
        lockfile: "",
      });
    },
  };
  const tokenFile = join(dir, "token");
  await writeFile(tokenFile, adminToken);
  const seen: ComposeEvent[] = [];
  /**
   * The compose up to image-build (each call one more of the definition), its hub record finished and its connection closed at the end;
   * `boot` the setup's bootTest unless this compose says otherwise (null: its test phase does not run).
   */
  const compose = (signal?: AbortSignal, boot: { marker: true } | null = bootTest ?? null) => {
    const connection = new OrchestratorConnection({ hub: hub.url, tokenFile, upUrl: "none", env: {} });
    const events = new ComposeEvents();
    events.subscribe((e) => seen.push(e));
    const record = new HubComposeRecord({
      connection,
      definition: loaded.definition,
      definitionText: text,
      baseDir: loaded.baseDir,
      openAtStart: true,
      onProblem: (message) => {
        throw new Error(message);
      },
    });
    record.listen(events);
    const phases = [
      packageSide,
      ...createHubImagePhases({ loaded, connection, record, outputDir: join(dir, "out"), ...(boot ? { bootTest: boot } : {}) }).map((p) =>
        p.name === "ostree" && ostreePhase ? ostreePhase : p,
      ),
    ];
    s.state = new ComposeState();
    return runCompose({
      definition: loaded.definition,
      definitionPath: join(dir, "mini.yaml"),
      outputDir: join(dir, "out"),
      phases,
      skipPhases: ["test", "metadata", "publish"],
      events,
      state: s.state,
      ...(signal ? { signal } : {}),
    }).finally(() => record.finish().finally(() => connection.close()));
  };
  const s = { dir, seen, compose, loaded, state: new ComposeState() };
  return s;
}

/** The next composeImage or diskImage task, claimed and started as a builder (host `imager` unless said) does. */
async function claimImageTask(host = "imager"): Promise<ClaimedTask> {
  for (let tries = 0; tries < 40; tries++) {
    const { task } = await builder.claim(host, { session: "s", waitMs: 500 });
    if (task) {
      await builder.startTask(host, task.id, "s");
      return task;
    }
  }
  throw new Error("no composeImage task was queued");
}

/** The compose's error once the task is completed with this result and no files. */
async function refusedWith(task: ClaimedTask, image: ImageTaskResult, composing: Promise<unknown>) {
  await builder.completeTask("imager", task.id, { session: "s", result: { files: [], image } });
  return composing.then(
    () => undefined,
    (e: unknown) => e as { cause?: { code: string; message: string } },
  );
}

/** A small OCI layout as a tar, as `image-task` leaves the archive. */
async function ociArchive(dir: string): Promise<Buffer> {
  const layout = join(dir, "layout");
  await mkdir(layout, { recursive: true });
  await writeFile(join(layout, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(layout, "index.json"), '{"schemaVersion":2,"manifests":[]}');
  await run("tar", ["--create", "--file", join(dir, "archive.tar"), "--directory", layout, "oci-layout", "index.json"]);
  return readFile(join(dir, "archive.tar"));
}

/** Completes a variant's task as a builder whose image phases made an OCI archive (returned) and a rootfs log. */
async function completeWithOciArchive(dir: string, task: ClaimedTask, host = "imager"): Promise<Buffer> {
  const variant = (task.request as { variant: string }).variant;
  const archive = await ociArchive(join(dir, variant));
  const name = `debian-bootc-minimal-${variant}.ociarchive`;
  const files = [
    { name, kind: "oci-archive", ...(await builder.uploadBuffer(archive)) },
    { name: "log-rootfs.log", kind: "log", ...(await builder.uploadBuffer(Buffer.from('{"msg":"root tree ready"}\n'))) },
  ];
  const image: ImageTaskResult = {
    variant,
    arch: "amd64",
    rootfs: { kver: "6.12.0-1-amd64", durations: { mmdebstrap: 1 }, from: "snapshot", origin: "built" },
    oci: { file: name, sha256: files[0]!.sha256 },
    phases: [{ name: "lint", outcome: "done", durationMs: 5 }],
  };
  await builder.completeTask(host, task.id, { session: "s", result: { files, image } });
  return archive;
}

describe("the image phases on a hub (--images-on hub)", () => {
  it("uploads the snapshot and the definition's files, queues a task, waits for it, downloads and places its files", async () => {
    const s = await setup();
    const composing = s.compose();
    const task = await claimImageTask();
    const request = task.request as Record<string, unknown> & { snapshot: Array<{ path: string; sha256: string }> };
    expect(request).toMatchObject({ variant: "minimal", arch: "amd64", definitionFile: "mini.yaml" });
    expect(request.snapshot.map((f) => f.path)).toEqual(["dists/trixie-minimal/InRelease", "pool/main/s/systemd_1_amd64.deb"]);
    expect((request.definitionFiles as Array<{ path: string }>).map((f) => f.path)).toEqual(["files/motd.txt"]);
    // the state carries the public snapshot key and the set, never a path
    expect(request.state).toMatchObject({ snapshot: { suite: "trixie-minimal", packages: [{ name: "systemd", sha256: SHA }] } });
    expect(JSON.stringify(request.state)).not.toContain(s.dir);
    // the compose's test phase does not run here: the builder is not asked to boot
    expect(request.state).not.toHaveProperty("bootTest");
    // what the client uploaded is in the store, under the sums the request names
    const fetched = join(s.dir, "fetched");
    await builder.downloadArtifact(request.snapshot[1]!.sha256, fetched);
    expect(await readFile(fetched, "utf8")).toBe("not really a deb\n");

    const archive = await completeWithOciArchive(s.dir, task);
    const result = await composing;

    expect(result.status).toBe("FINISHED");
    const here = join(result.composeDir, "compose", "minimal", "amd64");
    expect(await readFile(join(here, "debian-bootc-minimal-minimal.ociarchive"))).toEqual(archive);
    expect(await readFile(join(here, "oci", "index.json"), "utf8")).toContain("schemaVersion");
    expect(await readFile(join(result.composeDir, "logs", "image-task-minimal-amd64", "rootfs.log"), "utf8")).toContain("root tree ready");
    const states = s.seen.flatMap((e) => (e.kind === "image-task" ? [e.state] : []));
    expect(states[0]).toBe("free");
    expect(states).toContain("closed");
    const notes = s.seen.flatMap((e) => (e.kind === "note" ? [e.text] : []));
    expect(notes).toContain(`minimal/amd64: made by image task ${task.id} on imager`);
    // the tree stayed on the builder: its record here names the builder, no path (nothing here has that tree)
    const [details] = s.state.get("rootfs-details");
    expect(details).toMatchObject({ variant: "minimal", arch: "amd64", origin: "built", builtOn: "imager" });
    expect(details).not.toHaveProperty("path");
    // the hub's record of the compose has the image phases done
    const recorded = await new HubClient({ url: hub.url }).getCompose(result.composeId);
    expect(recorded.status).toBe("FINISHED");
    expect(Object.fromEntries(recorded.phases.map((p) => [p.name, p.status]))).toMatchObject({ rootfs: "done", oci: "done" });
  }, 60_000);

  it("a recompose with the same inputs queues no task and takes over the previous compose's results; a changed file queues one again", async () => {
    const s = await setup();
    const composing = s.compose();
    const task = await claimImageTask();
    const archive = await completeWithOciArchive(s.dir, task);
    const first = await composing;
    expect(first.status).toBe("FINISHED");

    s.seen.length = 0;
    // the next snapshot's Release is signed again (another date): not what the image is made of
    await writeFile(join(s.dir, "repo", "dists", "trixie-minimal", "InRelease"), "Suite: trixie-minimal\nDate: later\n");
    const second = await s.compose();
    expect(second.status).toBe("FINISHED");
    expect(second.composeId).not.toBe(first.composeId);
    // no composeImage task was queued for it
    expect((await builder.claim("imager", { session: "s", waitMs: 200 })).task).toBeNull();
    const here = join(second.composeDir, "compose", "minimal", "amd64");
    expect(await readFile(join(here, "debian-bootc-minimal-minimal.ociarchive"))).toEqual(archive);
    expect(await readFile(join(here, "oci", "index.json"), "utf8")).toContain("schemaVersion");
    expect(await readFile(join(second.composeDir, "logs", "image-task-minimal-amd64", "rootfs.log"), "utf8")).toContain("root tree ready");
    expect(s.state.get("images").map((i) => i.path)).toEqual([
      join("compose", "minimal", "amd64", "debian-bootc-minimal-minimal.ociarchive"),
    ]);
    expect(s.state.get("rootfs-details")[0]).toMatchObject({ variant: "minimal", origin: "built", builtOn: "imager" });
    // each image phase says so, as the local phases do on a no-op recompose
    for (const name of ["rootfs", "oci", "lint"]) {
      const notes = s.seen.flatMap((e) => (e.kind === "note" && e.phase === name ? [e.text] : [])).join("; ");
      expect(notes, name).toMatch(/reused/);
      expect(notes, name).toContain(first.composeId);
    }
    expect(JSON.parse(await readFile(join(here, "image-task.json"), "utf8"))).toMatchObject({ reusedFrom: first.composeId });

    // one input changed (a file the definition copies into the image): a task again
    await writeFile(join(s.dir, "files", "motd.txt"), "hello again\n");
    const third = s.compose();
    const again = await claimImageTask();
    expect((again.request as { variant: string }).variant).toBe("minimal");
    await completeWithOciArchive(s.dir, again);
    expect((await third).status).toBe("FINISHED");
  }, 60_000);

  it("a recompose takes the previous task over whether or not its test phase asks the builders for the marker boot", async () => {
    const s = await setup();
    const composing = s.compose();
    const task = await claimImageTask();
    expect((task.request as { state: unknown }).state).not.toHaveProperty("bootTest");
    const archive = await completeWithOciArchive(s.dir, task);
    const first = await composing;
    expect(first.status).toBe("FINISHED");

    // with its test phase: the same image, so no task (the test phase boots what was taken over itself: marker-boot.test.ts)
    const second = await s.compose(undefined, { marker: true });
    expect(second.status).toBe("FINISHED");
    expect((await builder.claim("imager", { session: "s", waitMs: 200 })).task).toBeNull();
    const here = join(second.composeDir, "compose", "minimal", "amd64");
    expect(await readFile(join(here, "debian-bootc-minimal-minimal.ociarchive"))).toEqual(archive);
    expect(JSON.parse(await readFile(join(here, "image-task.json"), "utf8"))).toMatchObject({ reusedFrom: first.composeId });

    // and back without it: still none
    const third = await s.compose(undefined, null);
    expect(third.status).toBe("FINISHED");
    expect((await builder.claim("imager", { session: "s", waitMs: 200 })).task).toBeNull();
    expect(JSON.parse(await readFile(join(third.composeDir, "compose", "minimal", "amd64", "image-task.json"), "utf8"))).toMatchObject({
      reusedFrom: second.composeId,
    });
  }, 60_000);

  it("a recompose queues the task again when a file the previous compose placed changed since", async () => {
    const s = await setup();
    const composing = s.compose();
    await completeWithOciArchive(s.dir, await claimImageTask());
    const first = await composing;
    await writeFile(join(first.composeDir, "compose", "minimal", "amd64", "debian-bootc-minimal-minimal.ociarchive"), "not the archive");
    const second = s.compose();
    const task = await claimImageTask();
    const archive = await completeWithOciArchive(s.dir, task);
    const result = await second;
    expect(result.status).toBe("FINISHED");
    expect(await readFile(join(result.composeDir, "compose", "minimal", "amd64", "debian-bootc-minimal-minimal.ociarchive"))).toEqual(
      archive,
    );
  }, 60_000);

  it("queues every variant's task at once, so two builders make them side by side", async () => {
    const s = await setup({ withStandard: true });
    const composing = s.compose();
    // both tasks are open at the same time, each on its own builder, before either is done
    const first = await claimImageTask("imager");
    const second = await claimImageTask("imager2");
    const variants = [first, second].map((t) => (t.request as { variant: string }).variant);
    expect(variants.sort()).toEqual(["minimal", "standard"]);
    const hubView = new HubClient({ url: hub.url });
    expect((await hubView.getTask(first.id)).host).toBe("imager");
    expect((await hubView.getTask(second.id)).host).toBe("imager2");
    // the second finishes first: the client places each as it comes
    const archives = [await completeWithOciArchive(s.dir, second, "imager2"), await completeWithOciArchive(s.dir, first)];
    const result = await composing;

    expect(result.status).toBe("FINISHED");
    for (const [i, task] of [second, first].entries()) {
      const variant = (task.request as { variant: string }).variant;
      const placed = join(result.composeDir, "compose", variant, "amd64", `debian-bootc-minimal-${variant}.ociarchive`);
      expect(await readFile(placed)).toEqual(archives[i]);
    }
    const notes = s.seen.flatMap((e) => (e.kind === "note" ? [e.text] : []));
    expect(notes).toContain(`${variants[0]}/amd64: made by image task ${first.id} on imager`);
    expect(notes).toContain(`${variants[1]}/amd64: made by image task ${second.id} on imager2`);
  }, 60_000);

  it("fails the compose with the task's error and where its log is", async () => {
    const s = await setup({ bootTest: { marker: true } });
    const composing = s.compose();
    const task = await claimImageTask();
    // the marker boot is the diskImage task's: the composeImage task makes no disk image
    expect((task.request as { state: unknown }).state).not.toHaveProperty("bootTest");
    await builder.failTask("imager", task.id, {
      session: "s",
      error: { code: "ROOTFS_CUSTOMIZE_FAILED", message: "postprocess machine-id failed" },
    });
    const error = await composing.then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string; cause?: { code: string; message: string; hint?: string } },
    );
    expect(error?.code).toBe("COMPOSE_PHASE_FAILED");
    expect(error?.cause?.code).toBe("IMAGE_PHASES_FAILED");
    expect(error?.message).toContain(`minimal/amd64: image task ${task.id} failed: ROOTFS_CUSTOMIZE_FAILED: postprocess machine-id failed`);
    expect(error?.cause?.hint).toContain(`${hub.url}/api/v1/tasks/${task.id}/logs/image.log`);
  }, 60_000);

  it("refuses a result whose commit is on a ref the definition does not give (it would become an ostree argument)", async () => {
    const s = await setup();
    const composing = s.compose();
    const task = await claimImageTask();
    const image: ImageTaskResult = {
      variant: "minimal",
      arch: "amd64",
      rootfs: { kver: "6.12.0-1-amd64", durations: {}, from: "snapshot", origin: "built" },
      ostree: { ref: "--repo=/etc", commit: SHA, version: "1" },
      phases: [],
    };
    const error = await refusedWith(task, image, composing);
    expect(error?.cause?.code).toBe("IMAGE_RESULT_REFUSED");
    expect(error?.cause?.message).toContain('its commit is on "--repo=/etc"');
  }, 60_000);

  it("sends the previous compose's commit to chain on, and refuses a result whose commit has another parent", async () => {
    const s = await setup();
    // a previous compose of the same definition, the latest, with a commit on the variant's ref
    const ref = ostreeRef(s.loaded.definition, "minimal", "amd64");
    const previous = "c".repeat(64);
    const prevDir = join(s.dir, "out", "previous");
    await mkdir(join(prevDir, "compose", "ostree", "repo"), { recursive: true });
    await writeFile(join(prevDir, "compose", "ostree", "repo", "config"), "[core]\nmode=archive-z2\n");
    await mkdir(join(prevDir, "compose", "minimal", "amd64"), { recursive: true });
    await writeFile(join(prevDir, "compose", "minimal", "amd64", "ostree-commit.json"), JSON.stringify({ ref, commit: previous }));
    await symlink("previous", join(s.dir, "out", `latest-${s.loaded.definition.name}`));
    const composing = s.compose();
    const task = await claimImageTask();
    expect((task.request as { state: { previousCommit?: string } }).state.previousCommit).toBe(previous);
    const image: ImageTaskResult = {
      variant: "minimal",
      arch: "amd64",
      rootfs: { kver: "6.12.0-1-amd64", durations: {}, from: "snapshot", origin: "built" },
      ostree: { ref, commit: SHA, parent: "d".repeat(64), version: "1" },
      phases: [],
    };
    const error = await refusedWith(task, image, composing);
    expect(error?.cause?.code).toBe("IMAGE_RESULT_REFUSED");
    expect(error?.cause?.message).toContain(`its commit's parent is ${"d".repeat(64)}, the task was sent ${previous}`);
  }, 60_000);

  /**
   * The disk images on a hub: the composeImage task brings the commit's repository tar, the stand-in ostree
   * phase "signs" it (writes its detached metadata where ostree keeps it, as signCommit does), then
   * image-build queues a diskImage task that the test claims and completes as a builder.
   */
  const COMMIT = "e".repeat(64);
  const COMMITMETA = Buffer.from("the detached metadata this client's signing wrote");
  const IMAGE = "debian-bootc-minimal-minimal-amd64-13.0.qcow2";
  const signingStandIn: Phase = {
    name: "ostree",
    async run(ctx) {
      const repo = join(ctx.composeDir, "compose", "ostree", "repo");
      await mkdir(join(repo, "objects", COMMIT.slice(0, 2)), { recursive: true });
      await writeFile(join(repo, "objects", COMMIT.slice(0, 2), `${COMMIT.slice(2)}.commitmeta`), COMMITMETA);
      await writeFile(join(repo, "config"), "[core]\nrepo_version=1\nmode=archive-z2\n");
      const ref = ostreeRef(ctx.definition, "minimal", "amd64");
      await writeCommitRecord(ctx.composeDir, {
        variant: "minimal",
        arch: "amd64",
        repo,
        ref,
        commit: COMMIT,
        changed: true,
        version: "1",
      });
    },
  };

  async function diskSetup(options: { extra?: string; bootTest?: { marker: true } } = {}) {
    const channel = await generateOpenPgpKey({ name: "channel", email: "c@example.invalid" });
    const s = await setup({
      outputs: "[ostree, qcow2]",
      extra: `updates:\n  url: http://127.0.0.1/\n  key: channel.asc\n${options.extra ?? ""}`,
      ostreePhase: signingStandIn,
      beforeLoad: (dir) => writeFile(join(dir, "channel.asc"), channel.privateKey),
      ...(options.bootTest ? { bootTest: options.bootTest } : {}),
    });
    return s;
  }

  /** Completes the composeImage task with a commit and its repository tar (returned: what the store has of it). */
  async function completeWithCommit(s: Awaited<ReturnType<typeof setup>>) {
    const task = await claimImageTask();
    const tar = await builder.uploadBuffer(Buffer.from("the repository tar of the unsigned commit"));
    const image: ImageTaskResult = {
      variant: "minimal",
      arch: "amd64",
      rootfs: { kver: "6.12.0-1-amd64", durations: {}, from: "snapshot", origin: "built" },
      ostree: { ref: ostreeRef(s.loaded.definition, "minimal", "amd64"), commit: COMMIT, version: "1" },
      phases: [{ name: "lint", outcome: "done" }],
    };
    await builder.completeTask("imager", task.id, {
      session: "s",
      result: { files: [{ name: "ostree-repo.tar", kind: "ostree-commit", ...tar }], image },
    });
    return tar;
  }

  /** Completes the diskImage task with a disk image (of `commit`) or, when `failed`, image-build's error; returns the image's bytes. */
  async function completeDiskTask(
    s: Awaited<ReturnType<typeof setup>>,
    task: ClaimedTask,
    { commit = COMMIT, failed = false }: { commit?: string; failed?: boolean } = {},
  ) {
    const bytes = Buffer.from("not really a qcow2");
    const disk = await builder.uploadBuffer(bytes);
    const log = await builder.uploadBuffer(Buffer.from('{"msg":"image-build done"}\n'));
    const { definition } = s.loaded;
    const files = [
      ...(failed ? [] : [{ name: IMAGE, kind: "disk-image", ...disk }]),
      { name: "log-disk-image-build-minimal-amd64.log", kind: "log", ...log },
    ];
    const result: DiskTaskResult = {
      variant: "minimal",
      arch: "amd64",
      ...(failed
        ? {}
        : {
            disk: {
              files: [{ file: IMAGE, format: "qcow2" as const, size: bytes.length, sha256: disk.sha256 }],
              rootUuid: "0f9c1d1e-0000-4000-8000-000000000000",
              osName: definition.name,
              remote: definition.updates?.remote ?? definition.name,
              ref: channelRef(definition, "minimal", "amd64") ?? ostreeRef(definition, "minimal", "amd64"),
              commit,
              secureBoot: false,
              firmware: "uefi" as const,
              durationMs: 1,
            },
          }),
      phases: [
        failed
          ? { name: "image-build", outcome: "failed-failable", error: { code: "DISK_IMAGE_FAILED", message: "disk size too small" } }
          : { name: "image-build", outcome: "done" },
      ],
    };
    await builder.completeTask("imager", task.id, { session: "s", result: { files, image: result } });
    return bytes;
  }

  it("signs before the disk image: queues a diskImage task with the commit, its tar from the store and the signature made here; places its image", async () => {
    const s = await diskSetup({ bootTest: { marker: true } });
    const composing = s.compose();
    const tar = await completeWithCommit(s);
    const task = await claimImageTask();
    expect(task.method).toBe("diskImage");
    const request = task.request as Record<string, unknown>;
    expect(request).toMatchObject({
      variant: "minimal",
      arch: "amd64",
      definitionFile: "mini.yaml",
      // the composeImage task's own file, by its SHA256: nothing uploaded again
      commit: { checksum: COMMIT, repository: { sha256: tar.sha256, size: tar.size }, commitmeta: COMMITMETA.toString("base64") },
      // the marker boot is asked of the task that makes the disk image
      state: { bootTest: { marker: true } },
    });
    // no path of this machine, no private key
    expect(JSON.stringify(request)).not.toContain(s.dir);
    expect(JSON.stringify(request)).not.toContain("PRIVATE KEY");
    const bytes = await completeDiskTask(s, task);
    const result = await composing;
    expect(result.status).toBe("FINISHED");
    expect(await readFile(join(result.composeDir, "compose", "minimal", "amd64", "images", IMAGE))).toEqual(bytes);
    expect(s.state.get("disk-images")[0]).toMatchObject({ variant: "minimal", arch: "amd64", commit: COMMIT });
    // the two tasks' logs side by side
    expect(
      await readFile(join(result.composeDir, "logs", "image-task-minimal-amd64", "disk-image-build-minimal-amd64.log"), "utf8"),
    ).toContain("image-build done");
    const notes = s.seen.flatMap((e) => (e.kind === "note" ? [e.text] : []));
    expect(notes).toContain(`minimal/amd64: disk images of ${COMMIT.slice(0, 12)} made by disk image task ${task.id} on imager`);
    const states = s.seen.flatMap((e) => (e.kind === "image-task" && e.phase === "image-build" ? [e.state] : []));
    expect(states[0]).toBe("free");
    expect(states).toContain("closed");
  }, 60_000);

  it("a recompose with the same inputs takes both tasks' results over: no task of either kind is queued", async () => {
    const s = await diskSetup();
    const first = s.compose();
    await completeWithCommit(s);
    const bytes = await completeDiskTask(s, await claimImageTask());
    expect((await first).status).toBe("FINISHED");
    const again = await s.compose();
    expect(again.status).toBe("FINISHED");
    expect(await readFile(join(again.composeDir, "compose", "minimal", "amd64", "images", IMAGE))).toEqual(bytes);
    const kinds = s.seen.flatMap((e) => (e.kind === "image-task" ? [e.phase] : []));
    // the first compose's two tasks only (free ... closed of each)
    expect(kinds.filter((k) => k === "image-build").length).toBe(kinds.filter((k) => k === "rootfs").length);
    const notes = s.seen.flatMap((e) => (e.kind === "note" ? [e.text] : []));
    expect(notes.some((t) => t.includes("disk images of") && t.includes("reused"))).toBe(true);
  }, 60_000);

  it("refuses a disk image that deploys another commit than the one signed here", async () => {
    const s = await diskSetup();
    const composing = s.compose();
    await completeWithCommit(s);
    await completeDiskTask(s, await claimImageTask(), { commit: "f".repeat(64) });
    const error = await composing.then(
      () => undefined,
      (e: unknown) => e as { code: string; cause?: { code: string; message: string } },
    );
    expect(error?.code).toBe("COMPOSE_PHASE_FAILED");
    expect(error?.cause?.code).toBe("IMAGE_RESULT_REFUSED");
    expect(error?.cause?.message).toContain(`at ${"f".repeat(64)}, not`);
  }, 60_000);

  it("fails image-build with the disk task's error (a builder refusing the signature) and where its log is", async () => {
    const s = await diskSetup({ extra: "failable: [qcow2]\n" });
    const composing = s.compose();
    await completeWithCommit(s);
    const task = await claimImageTask();
    await builder.failTask("imager", task.id, {
      session: "s",
      error: { code: "COMMIT_SIGNATURE_REFUSED", message: "no good signature by the key its image trusts" },
    });
    const result = await composing;
    expect(result.status).toBe("FINISHED_INCOMPLETE");
    expect(result.phases.find((p) => p.name === "image-build")).toMatchObject({
      outcome: "failed-failable",
      error: {
        code: "IMAGE_PHASES_FAILED",
        message: expect.stringContaining(`disk image task ${task.id} failed: COMMIT_SIGNATURE_REFUSED`),
      },
    });
  }, 60_000);

  it("a disk image failed on the builder: the compose is FINISHED_INCOMPLETE when the deliverable is failable, with the rest placed", async () => {
    const s = await diskSetup({ extra: "failable: [qcow2]\n" });
    const composing = s.compose();
    await completeWithCommit(s);
    await completeDiskTask(s, await claimImageTask(), { failed: true });
    const result = await composing;
    expect(result.status).toBe("FINISHED_INCOMPLETE");
    expect(result.phases.find((p) => p.name === "image-build")).toMatchObject({
      outcome: "failed-failable",
      error: {
        code: "DISK_IMAGE_FAILED",
        message: expect.stringContaining("minimal/amd64: the disk image failed on imager: DISK_IMAGE_FAILED: disk size too small"),
      },
    });
    expect(
      await readFile(join(result.composeDir, "logs", "image-task-minimal-amd64", "disk-image-build-minimal-amd64.log"), "utf8"),
    ).toContain("image-build done");
    expect((await new HubClient({ url: hub.url }).getCompose(result.composeId)).status).toBe("FINISHED_INCOMPLETE");
  }, 60_000);

  it("a disk image failed on the builder: the compose is DOOMED when the deliverable is not failable", async () => {
    const s = await diskSetup();
    const composing = s.compose();
    await completeWithCommit(s);
    await completeDiskTask(s, await claimImageTask(), { failed: true });
    const error = await composing.then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string; cause?: { code: string } },
    );
    expect(error?.code).toBe("COMPOSE_PHASE_FAILED");
    expect(error?.cause?.code).toBe("DISK_IMAGE_FAILED");
    expect(error?.message).toContain("phase image-build failed: minimal/amd64: the disk image failed on imager");
  }, 60_000);

  it("a composeImage result bringing disk images of the unsigned commit is refused", async () => {
    const s = await diskSetup();
    const composing = s.compose();
    const task = await claimImageTask();
    const image = {
      variant: "minimal",
      arch: "amd64",
      rootfs: { kver: "6.12.0-1-amd64", durations: {}, from: "snapshot", origin: "built" },
      ostree: { ref: ostreeRef(s.loaded.definition, "minimal", "amd64"), commit: COMMIT, version: "1" },
      bootTests: [],
      phases: [],
    } as ImageTaskResult;
    const error = await refusedWith(task, image, composing);
    expect(error?.cause?.code).toBe("IMAGE_RESULT_REFUSED");
    expect(error?.cause?.message).toContain("disk images of a commit not signed yet");
  }, 60_000);

  it("on an interrupt while the disk task runs, the compose ends TERMINATED and the task is canceled", async () => {
    const s = await diskSetup();
    const controller = new AbortController();
    const composing = s.compose(controller.signal);
    await completeWithCommit(s);
    const task = await claimImageTask();
    controller.abort();
    const result = await composing;
    expect(result.status).toBe("TERMINATED");
    expect((await new HubClient({ url: hub.url }).getTask(task.id)).state).toBe("canceled");
  }, 60_000);

  it("on an interrupt, the compose ends TERMINATED and its task is canceled", async () => {
    const s = await setup();
    const controller = new AbortController();
    const composing = s.compose(controller.signal);
    const task = await claimImageTask();
    controller.abort();
    const result = await composing;
    expect(result.status).toBe("TERMINATED");
    expect((await new HubClient({ url: hub.url }).getTask(task.id)).state).toBe("canceled");
  }, 60_000);
});
