import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { hashFileWith } from "@debian-bootc/debian";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPhase } from "../boot/test-phase.js";
import { ComposeState } from "../compose/compose-state.js";
import { fileLogger } from "../compose/phase-engine.js";
import { type LoadedDefinition, loadDefinition } from "../definition.js";
import { ostreeRef, writeCommitRecord } from "../ostree/ostree-phase.js";
import { minimalVariantDefinition } from "./__fixtures__/minimal-compose.js";
import { checkImageTask, placeDiskImages, placeDiskTaskResult, placeLogs } from "./place-result.js";
import { recordImageTask, takeOverImageTask } from "./reuse-previous.js";
import type { DiskTaskResult, ImageTaskResult, MarkerBootResult } from "./task-result.js";

/**
 * A builder's marker boot of the disk image it made (a diskImage task's), on the client: the result's record checked (the
 * task's variant/arch, one of its disk images, its own log files, a bounded message, no field it does not
 * know), placed as a local test phase leaves it, and taken by the test phase instead of a boot of its own.
 * The "disk image" is not one: a boot of it here would fail.
 */

const SHA = "c".repeat(64);
const COMPOSE_ID = "debian-bootc-minimal-13.0-20261204.0";
const IMAGE = "debian-bootc-minimal-minimal-amd64-13.0.qcow2";
let work: string;
let loaded: LoadedDefinition;
let n = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "marker-boot-"));
  await writeFile(join(work, "minimal.yaml"), await minimalVariantDefinition("[ostree, qcow2]"));
  loaded = await loadDefinition(join(work, "minimal.yaml"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function markerBoot(overrides: Record<string, unknown> = {}): MarkerBootResult {
  return {
    variant: "minimal",
    arch: "amd64",
    kind: "marker",
    image: IMAGE,
    passed: true,
    accel: "tcg",
    accelReason: "no /dev/kvm",
    message: `booted ${COMPOSE_ID} (${SHA.slice(0, 12)}) in 80 s`,
    steps: [
      {
        name: "marker",
        marker: {
          composeId: COMPOSE_ID,
          version: "13.0",
          commit: SHA,
          bootedDeployment: { os: "debian-bootc", commit: SHA },
          deployments: [SHA],
          complete: true,
        },
        timeToMarkerMs: 80_000,
        durationMs: 81_000,
        ended: "matched",
      },
    ],
    durationMs: 82_000,
    consoleLog: "log-disk-boot-minimal-amd64.log",
    resultsLog: "log-disk-boot-minimal-amd64.results.log",
    ...overrides,
  } as MarkerBootResult;
}

/** A downloaded task (its disk image and the boot's logs; no boot when `boot` is undefined) and a compose directory to place it into. */
async function setup(boot: unknown) {
  const dir = join(work, `t${n++}`);
  const taskDir = join(dir, "task");
  const composeDir = join(dir, "out", COMPOSE_ID);
  await mkdir(taskDir, { recursive: true });
  await mkdir(join(composeDir, "logs"), { recursive: true });
  await writeFile(join(taskDir, IMAGE), "not a disk image\n");
  await writeFile(join(taskDir, "log-disk-boot-minimal-amd64.log"), "BdsDxe: loading Boot0001\n");
  await writeFile(join(taskDir, "log-disk-boot-minimal-amd64.results.log"), `deb-bootc-compose: booted compose=${COMPOSE_ID}\n`);
  const sha256 = (await hashFileWith(join(taskDir, IMAGE), ["sha256"])).sha256;
  const ref = ostreeRef(loaded.definition, "minimal", "amd64");
  // the commit as placeOstreeCommits leaves it (its repository, its record): what a recompose takes over
  const repo = join(composeDir, "compose", "ostree", "repo");
  await mkdir(repo, { recursive: true });
  await writeFile(join(repo, "config"), "[core]\nmode=archive-z2\n");
  await writeCommitRecord(composeDir, { variant: "minimal", arch: "amd64", repo, ref, commit: SHA, changed: true, version: "13.0" });
  // what the composeImage task brought (the commit), then what the diskImage task made of it once signed
  const composed: ImageTaskResult = {
    variant: "minimal",
    arch: "amd64",
    rootfs: { kver: "6.12.0-1-amd64", durations: {}, from: "snapshot", origin: "built" },
    ostree: { ref, commit: SHA, version: "13.0" },
    phases: [],
  };
  const disk: DiskTaskResult = {
    variant: "minimal",
    arch: "amd64",
    disk: {
      files: [{ file: IMAGE, format: "qcow2", size: 17, sha256 }],
      rootUuid: "0f9c1d1e-0000-4000-8000-000000000000",
      osName: "debian-bootc",
      remote: "debian-bootc",
      ref,
      commit: SHA,
      secureBoot: false,
      firmware: "uefi",
      durationMs: 1,
    },
    ...(boot === undefined ? {} : { bootTests: [boot as MarkerBootResult] }),
    phases: [],
  };
  const files = [
    { name: IMAGE, kind: "disk-image" },
    ...(boot === undefined
      ? []
      : [
          { name: "log-disk-boot-minimal-amd64.log", kind: "log" },
          { name: "log-disk-boot-minimal-amd64.results.log", kind: "log" },
        ]),
  ];
  const ctx = {
    composeId: COMPOSE_ID,
    composeDir,
    definition: loaded.definition,
    logger: fileLogger(join(composeDir, "logs", "test.log")),
    signal: new AbortController().signal,
    state: new ComposeState(),
    emit: () => {},
  };
  const check = async () =>
    placeDiskTaskResult(ctx, await checkImageTask({ dir: taskDir, files: [], result: composed }), { files, result: disk });
  return { taskDir, composeDir, ctx, check };
}

async function refusal(boot: unknown): Promise<string> {
  const s = await setup(boot);
  const error = await s.check().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isCodedError(error, "IMAGE_RESULT_REFUSED"), String(error)).toBe(true);
  return (error as Error).message;
}

describe("a builder's marker boot on the client", () => {
  it("refuses one of another variant or arch than the task's", async () => {
    expect(await refusal(markerBoot({ variant: "standard" }))).toContain('its marker boot is of "standard"/"amd64"');
    expect(await refusal(markerBoot({ arch: "arm64" }))).toContain('"minimal"/"arm64"');
  });

  it("refuses paths: a builder's image path, logs that are not among the task's log files, a field it does not know", async () => {
    expect(await refusal(markerBoot({ image: `/var/lib/deb-orchestrator/task-1/out/${IMAGE}` }))).toContain("bootTests.0.image");
    expect(await refusal(markerBoot({ image: "other.qcow2" }))).toContain("booted other.qcow2, which is not one of its disk image files");
    expect(await refusal(markerBoot({ consoleLog: "../../etc/shadow" }))).toContain("bootTests.0.consoleLog");
    // a file of the task, but not a log: the client would copy the disk image over its boot log
    expect(await refusal(markerBoot({ resultsLog: IMAGE }))).toContain(`names ${IMAGE}, which is not among its log files`);
    expect(await refusal(markerBoot({ workDir: "/var/lib/deb-orchestrator/task-1" }))).toContain("bootTests.0");
  });

  it("refuses a huge message, and odd words from the guest's marker", async () => {
    expect(await refusal(markerBoot({ passed: false, message: "x".repeat(5000) }))).toContain("bootTests.0.message");
    const steps = markerBoot().steps;
    steps[0]!.marker!.commit = "--repo=/etc";
    expect(await refusal(markerBoot({ steps }))).toContain("bootTests.0.steps.0.marker.commit");
  });

  it("places it as a local test phase leaves one, and the test phase takes it instead of booting the image", async () => {
    const s = await setup(markerBoot());
    const [disk] = await placeDiskImages(s.ctx, [await s.check()]);
    const image = join(s.composeDir, "compose", "minimal", "amd64", "images", IMAGE);
    const consoleLog = join(s.composeDir, "logs", "boot-minimal-amd64.log");
    const resultsLog = join(s.composeDir, "logs", "boot-minimal-amd64.results.log");
    expect(disk?.markerBoot).toMatchObject({ image, consoleLog, resultsLog, passed: true });
    expect(await readFile(resultsLog, "utf8")).toContain(`booted compose=${COMPOSE_ID}`);
    expect(JSON.stringify(disk?.markerBoot)).not.toContain("log-disk-boot");

    await createTestPhase().run(s.ctx);
    const written = JSON.parse(await readFile(join(s.composeDir, "compose", "minimal", "amd64", "boot-tests.json"), "utf8"));
    expect(written).toEqual([expect.objectContaining({ kind: "marker", passed: true, image, consoleLog, accel: "tcg" })]);
    expect(s.ctx.state.get("boot-tests")).toEqual(written);
  });

  it("a recompose with the same inputs takes it over with the very disk image it booted, and says so; not when the image changed", async () => {
    const s = await setup(markerBoot());
    const task = { ...(await s.check()), key: "k".repeat(64) };
    await placeDiskImages(s.ctx, [task]);
    await placeLogs(s.ctx, [task]);
    await recordImageTask(s.ctx, task);
    const out = join(s.composeDir, "..");
    await symlink(COMPOSE_ID, join(out, `latest-${loaded.definition.name}`));
    const next = { ...s.ctx, composeId: `${COMPOSE_ID}-next`, composeDir: join(out, `${COMPOSE_ID}-next`), state: new ComposeState() };
    await mkdir(join(next.composeDir, "logs"), { recursive: true });

    // another key: nothing taken over
    expect(await takeOverImageTask(next, "minimal", "amd64", "e".repeat(64))).toBeUndefined();
    const taken = await takeOverImageTask(next, "minimal", "amd64", task.key);
    expect(taken?.reusedFrom).toBe(COMPOSE_ID);
    const [disk] = await placeDiskImages(next, [taken!]);
    const image = join(next.composeDir, "compose", "minimal", "amd64", "images", IMAGE);
    // the same bytes, hard-linked
    expect((await stat(image)).ino).toBe((await stat(join(s.composeDir, "compose", "minimal", "amd64", "images", IMAGE))).ino);
    expect(disk?.markerBoot).toMatchObject({ image, passed: true, message: expect.stringContaining(`(taken over from ${COMPOSE_ID})`) });
    expect(await readFile(join(next.composeDir, "logs", "boot-minimal-amd64.results.log"), "utf8")).toContain(
      `booted compose=${COMPOSE_ID}`,
    );
    expect(await readFile(join(next.composeDir, "logs", "image-task-minimal-amd64", "disk-boot-minimal-amd64.log"), "utf8")).toContain(
      "BdsDxe",
    );

    // the previous compose's disk image changed since: its boot is not of these bytes, nothing is taken over
    await rm(next.composeDir, { recursive: true, force: true });
    await mkdir(join(next.composeDir, "logs"), { recursive: true });
    await writeFile(join(s.composeDir, "compose", "minimal", "amd64", "images", IMAGE), "another disk image\n");
    expect(await takeOverImageTask(next, "minimal", "amd64", task.key)).toBeUndefined();
  });

  it("a recompose that wants the marker boot and takes over a task that made none boots the image itself in its test phase", async () => {
    // the previous compose skipped its test phase: its builder was not asked to boot (the task's key does not say)
    const s = await setup(undefined);
    const task = { ...(await s.check()), key: "k".repeat(64) };
    await placeDiskImages(s.ctx, [task]);
    await recordImageTask(s.ctx, task);
    const out = join(s.composeDir, "..");
    await symlink(COMPOSE_ID, join(out, `latest-${loaded.definition.name}`));
    const next = { ...s.ctx, composeId: `${COMPOSE_ID}-next`, composeDir: join(out, `${COMPOSE_ID}-next`), state: new ComposeState() };
    await mkdir(join(next.composeDir, "logs"), { recursive: true });
    const taken = await takeOverImageTask(next, "minimal", "amd64", task.key);
    expect(taken?.reusedFrom).toBe(COMPOSE_ID);
    const [disk] = await placeDiskImages(next, [taken!]);
    expect(disk).not.toHaveProperty("markerBoot");

    // its test phase boots the placed image here (it is no disk image, so that boot fails: QEMU's overlay refuses it)
    const error = await createTestPhase({ accel: "tcg" })
      .run(next)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isCodedError(error, "BOOT_TEST_FAILED"), String(error)).toBe(true);
    const image = join(next.composeDir, "compose", "minimal", "amd64", "images", IMAGE);
    const [record] = JSON.parse(await readFile(join(next.composeDir, "compose", "minimal", "amd64", "boot-tests.json"), "utf8"));
    expect(record).toMatchObject({ kind: "marker", image, passed: false, accel: "tcg" });
    // QEMU's overlay over the image placed here, not a builder's word
    expect(record.message).toContain(image);
    expect(record.message).not.toContain("taken over");
    // the local boot's own work directory
    expect((await stat(join(next.composeDir, "work", "amd64", "minimal", "boot-test"))).isDirectory()).toBe(true);
  });

  it("fails the test phase with BOOT_TEST_FAILED naming the variant/arch and the builder's message; the records are written", async () => {
    const s = await setup(markerBoot({ passed: false, message: "boot marker: no marker line on the results port", steps: [] }));
    await placeDiskImages(s.ctx, [await s.check()]);
    const error = await createTestPhase()
      .run(s.ctx)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isCodedError(error, "BOOT_TEST_FAILED"), String(error)).toBe(true);
    expect((error as Error).message).toContain("minimal/amd64 marker: boot marker: no marker line on the results port");
    const written = JSON.parse(await readFile(join(s.composeDir, "compose", "minimal", "amd64", "boot-tests.json"), "utf8"));
    expect(written).toEqual([expect.objectContaining({ passed: false })]);
  });
});
