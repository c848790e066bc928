import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { type ClaimedTask, HubClient } from "@debian-bootc/deb-orchestrator";
import { type RunningHub, startHub } from "@debian-bootc/deb-orchestrator/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UpdateTestJob, UpdateTestOutcome } from "../boot/test-phase.js";
import { OrchestratorConnection } from "../build/orchestrator-connection.js";
import { ComposeEvents } from "../compose/compose-events.js";
import { HubComposeRecord } from "../compose/hub-record.js";
import { runCompose } from "../compose/phase-engine.js";
import { loadDefinition } from "../definition.js";
import { minimalVariantDefinition } from "./__fixtures__/minimal-compose.js";
import { updateTestOnHub } from "./hub-update-test.js";

/**
 * The update test's seam with --images-on hub against a hub in this process: the test is the builder (it
 * claims the updateTest task and completes it), and checks what the client sent (the previous image, the
 * signed repository as a tar with the repository's entries at its top) and placed (the logs, the record).
 */

const commit = (c: string) => c.repeat(64);
let work: string;
let hub: RunningHub;
let adminToken: string;
let builder: HubClient;
let n = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "update-test-on-hub-"));
  hub = await startHub({ db: `sqlite:${join(work, "hub.db")}`, dataDir: join(work, "hub"), leaseMs: 60_000, buildBase: false });
  adminToken = (await readFile(hub.adminTokenFile, "utf8")).trim();
  const admin = new HubClient({ url: hub.url, token: adminToken });
  await admin.createUser("imager", ["host"]);
  builder = new HubClient({ url: hub.url, token: (await admin.createToken("imager", { label: "test" })).token });
  await builder.checkin("imager", { session: "s", arches: ["amd64"], capabilities: ["image"], capacity: 4 });
}, 60_000);
afterAll(async () => {
  await hub?.close();
  await rm(work, { recursive: true, force: true });
});

/** A compose whose only phase is a test phase handing one update test to updateTestOnHub. */
async function setup() {
  const dir = join(work, `c${n++}`);
  await mkdir(dir, { recursive: true });
  const text = (await minimalVariantDefinition("[ostree, qcow2]")).replace(/^version: .*$/m, `version: "13.${n}"`);
  await writeFile(join(dir, "mini.yaml"), text);
  const loaded = await loadDefinition(join(dir, "mini.yaml"));
  const image = join(dir, "previous", "mini-minimal-amd64.qcow2");
  await mkdir(join(dir, "previous"));
  await writeFile(image, "the previous disk image\n");
  const published = join(dir, "published");
  await mkdir(join(published, "objects", "ab"), { recursive: true });
  await writeFile(join(published, "config"), "[core]\nmode=archive-z2\n");
  await writeFile(join(published, "objects", "ab", "cdef.commit"), "a commit\n");
  const tokenFile = join(dir, "token");
  await writeFile(tokenFile, adminToken);
  let job: UpdateTestJob | undefined;
  const compose = (signal?: AbortSignal) => {
    const connection = new OrchestratorConnection({ hub: hub.url, tokenFile, upUrl: "none", env: {} });
    const events = new ComposeEvents();
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
    const outcome: { value?: UpdateTestOutcome } = {};
    const composing = runCompose({
      definition: loaded.definition,
      definitionPath: join(dir, "mini.yaml"),
      outputDir: join(dir, "out"),
      phases: [
        {
          name: "test",
          async run(ctx) {
            job = {
              variant: "minimal",
              arch: "amd64",
              previous: { image, format: "qcow2", commit: commit("a"), composeId: "previous" },
              publishedRepo: published,
              remote: "debian-bootc",
              firmware: "uefi",
              from: { commit: commit("a") },
              to: { commit: commit("b"), composeId: ctx.composeId },
              consoleLog: join(ctx.composeDir, "logs", "boot-minimal-amd64-update.log"),
              workDir: join(ctx.composeDir, "work", "amd64", "minimal", "update-test"),
            };
            await mkdir(job.workDir, { recursive: true });
            outcome.value = await updateTestOnHub({ loaded, connection, record })(ctx, job);
          },
        },
      ],
      events,
      ...(signal ? { signal } : {}),
    }).finally(() => record.finish().finally(() => connection.close()));
    return { composing, outcome, job: () => job! };
  };
  return { dir, compose };
}

async function claimUpdateTest(): Promise<ClaimedTask> {
  for (let tries = 0; tries < 40; tries++) {
    const { task } = await builder.claim("imager", { session: "s", waitMs: 500 });
    if (task) {
      await builder.startTask("imager", task.id, "s");
      return task;
    }
  }
  throw new Error("no updateTest task was queued");
}

/** The builder's record for what the task asked, with `overrides`; its console and results logs uploaded as the task's files. */
async function complete(task: ClaimedTask, overrides: Record<string, unknown> = {}) {
  const request = task.request as { variant: string; arch: string; image: { name: string }; from: unknown; to: unknown };
  const files = [
    {
      name: "log-boot-minimal-amd64-update.log",
      kind: "log",
      ...(await builder.uploadBuffer(Buffer.from("console of the builder's boots\n"))),
    },
    {
      name: "log-boot-minimal-amd64-update.results.log",
      kind: "log",
      ...(await builder.uploadBuffer(Buffer.from("deb-bootc-test: step rollback done\n"))),
    },
  ];
  const marker = (c: string) => ({ composeId: "x", version: "13.0", commit: commit(c), deployments: [commit(c)], complete: true });
  const update = {
    variant: request.variant,
    arch: request.arch,
    kind: "update",
    image: request.image.name,
    from: request.from,
    to: request.to,
    passed: true,
    accel: "tcg",
    message: "upgraded aaaa -> bbbb over HTTP, rolled back",
    steps: [
      { name: "upgrade", marker: marker("a"), durationMs: 1, ended: "matched" },
      { name: "updated", marker: marker("b"), durationMs: 1, ended: "matched" },
      { name: "rolled-back", marker: marker("a"), durationMs: 1, ended: "matched" },
    ],
    durationMs: 3,
    served: { bytes: 100, requests: 3, deltaRequests: 1 },
    consoleLog: files[0]!.name,
    resultsLog: files[1]!.name,
    ...overrides,
  };
  await builder.completeTask("imager", task.id, { session: "s", result: { files, image: { update } } });
}

describe("the update test on a hub's builder (--images-on hub)", () => {
  it("sends the previous image and the signed repository as a tar, queues an updateTest task, places its logs and record", async () => {
    const s = await setup();
    const { composing, outcome, job } = s.compose();
    const task = await claimUpdateTest();
    expect(task.method).toBe("updateTest");
    const request = task.request as Record<string, unknown> & { repository: { sha256: string }; image: { sha256: string } };
    expect(request).toMatchObject({
      variant: "minimal",
      arch: "amd64",
      image: { name: "mini-minimal-amd64.qcow2", format: "qcow2", size: 24 },
      remote: "debian-bootc",
      firmware: "uefi",
      from: { commit: commit("a") },
      to: { commit: commit("b"), composeId: job().to.composeId },
    });
    // the repository's own entries at the tar's top, as the builder's safe extraction takes them
    const tar = join(s.dir, "downloaded.tar");
    await builder.downloadArtifact(request.repository.sha256, tar);
    const members = (await run("tar", ["--list", "--file", tar])).stdout.trim().split("\n").sort();
    expect(members).toEqual(["config", "objects/", "objects/ab/", "objects/ab/cdef.commit"]);
    await builder.downloadArtifact(request.image.sha256, join(s.dir, "image"));
    expect(await readFile(join(s.dir, "image"), "utf8")).toBe("the previous disk image\n");
    await complete(task);
    const result = await composing;
    expect(result.status).toBe("FINISHED");
    expect(outcome.value).toMatchObject({
      passed: true,
      accel: "tcg",
      consoleLog: job().consoleLog,
      resultsLog: job().consoleLog.replace(/\.log$/, ".results.log"),
      served: { bytes: 100 },
    });
    expect(outcome.value?.steps.map((step) => step.name)).toEqual(["upgrade", "updated", "rolled-back"]);
    expect(await readFile(job().consoleLog, "utf8")).toBe("console of the builder's boots\n");
    expect(await readFile(job().consoleLog.replace(/\.log$/, ".results.log"), "utf8")).toContain("rollback done");
  });

  it("refuses a record for another commit than the one sent: the compose fails with IMAGE_RESULT_REFUSED", async () => {
    const s = await setup();
    const { composing, outcome } = s.compose();
    const task = await claimUpdateTest();
    await complete(task, { to: { commit: commit("e"), composeId: (task.request as { to: { composeId: string } }).to.composeId } });
    const error = (await composing.catch((e: unknown) => e)) as { cause?: { code: string; message: string } };
    expect(error.cause).toMatchObject({ code: "IMAGE_RESULT_REFUSED", message: expect.stringMatching(/the task was a+ -> b+/) });
    expect(outcome.value).toBeUndefined();
  });

  it("cancels the task on Ctrl-C", async () => {
    const s = await setup();
    const controller = new AbortController();
    const { composing } = s.compose(controller.signal);
    const task = await claimUpdateTest();
    controller.abort();
    const result = await composing.catch((e: unknown) => e);
    expect(JSON.stringify(result)).toMatch(/TERMINATED|INTERRUPTED/);
    const admin = new HubClient({ url: hub.url, token: adminToken });
    expect((await admin.getTask(task.id)).state).toBe("canceled");
  });
});
