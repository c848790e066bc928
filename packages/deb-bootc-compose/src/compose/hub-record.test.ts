import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { coreError } from "@debian-bootc/core";
import { HubClient } from "@debian-bootc/deb-orchestrator";
import { type RunningHub, startHub } from "@debian-bootc/deb-orchestrator/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrchestratorConnection } from "../build/orchestrator-connection.js";
import { parseDefinition } from "../definition.js";
import { ComposeEvents } from "./compose-events.js";
import { composeResults, HubComposeRecord } from "./hub-record.js";
import { type Phase, runCompose } from "./phase-engine.js";

/**
 * A compose recorded on a real hub (in this process, on SQLite) by the events of a real run of the phase
 * engine; the phases are stand-ins that write what the metadata phase would.
 */

let dir = "";
let hub: RunningHub;
let token = "";
const text = 'name: demo\nversion: "13.0"\n';
const definition = parseDefinition(text, "demo.yaml");

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hub-record-"));
  await writeFile(join(dir, "demo.yaml"), text);
  hub = await startHub({ db: `sqlite:${join(dir, "hub.db")}`, dataDir: join(dir, "hub") });
  token = (await readFile(hub.adminTokenFile, "utf8")).trim();
}, 60_000);
afterAll(async () => {
  await hub?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const metadata: Phase = {
  name: "metadata",
  async run(ctx) {
    ctx.logger.info({}, "writing metadata");
    const meta = join(ctx.composeDir, "compose", "metadata");
    await mkdir(join(meta, "sbom"), { recursive: true });
    const image = { variant: "minimal", arch: "amd64", type: "oci", format: "oci-layout", path: "compose/minimal/amd64/oci", size: 42 };
    await writeFile(
      join(meta, "images.json"),
      JSON.stringify({ payload: { images: [image, { ...image, type: "qcow2", path: "x.qcow2", sha256: "b".repeat(64) }] } }),
    );
    const pkg = { name: "hello", version: "1.0-1", arch: "amd64" };
    await writeFile(join(meta, "packages.json"), JSON.stringify({ payload: { packages: { minimal: { amd64: [pkg] } } } }));
    await writeFile(join(meta, "sbom", "minimal.amd64.spdx.json"), JSON.stringify({ spdxVersion: "SPDX-2.3" }));
  },
};
const failing: Phase = {
  name: "rootfs",
  async run() {
    throw coreError("COMMAND_FAILED", "mmdebstrap broke");
  },
};

/**
 * Run a compose with these phases, recorded by a HubComposeRecord. The hub is named (--hub: opened at the
 * start) unless said; with `connected`, a build phase opens the connection itself, as the real one does.
 */
async function recordedCompose(
  phases: Phase[],
  options: { named?: boolean; connected?: boolean; signal?: AbortSignal; hub?: { url: string; token: string }; heartbeatMs?: number } = {},
) {
  const connection = new OrchestratorConnection(
    options.named === false && !options.connected
      ? { upUrl: "none", env: {}, dataDir: join(dir, "none") }
      : { hub: options.hub?.url ?? hub.url, token: options.hub?.token ?? token, env: {} },
  );
  const connecting: Phase = {
    name: "build",
    async run(ctx) {
      await connection.open(ctx.definition, dir, ctx.logger);
    },
  };
  if (options.connected) phases = [connecting, ...phases];
  const events = new ComposeEvents();
  const problems: string[] = [];
  const record = new HubComposeRecord({
    connection,
    definition,
    definitionText: text,
    baseDir: dir,
    openAtStart: options.named !== false,
    onProblem: (m) => problems.push(m),
    ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
  });
  record.listen(events);
  const outcome = await runCompose({
    definition,
    definitionPath: join(dir, "demo.yaml"),
    outputDir: join(dir, "out"),
    phases,
    events,
    ...(options.signal ? { signal: options.signal } : {}),
  }).catch((error: { details: { composeId: string } }) => ({ composeId: error.details.composeId }));
  await record.finish();
  await connection.close();
  expect(problems).toEqual([]);
  return outcome.composeId;
}

describe("a compose recorded on its hub", () => {
  const client = () => new HubClient({ url: hub.url });

  it("has its phases with logs, skipped ones included, then FINISHED with its images, packages and SBOM", async () => {
    const id = await recordedCompose([metadata]);
    const view = await client().getCompose(id);
    expect(view).toMatchObject({ status: "FINISHED", name: "demo", definition: text, hasSbom: true, diff: null });
    expect(view.phases.map((p) => [p.name, p.status])).toEqual([
      ["init", "done"],
      ...["build", "pkgset", "gather", "snapshot-repo", "rootfs", "ostree", "oci", "lint", "image-build", "test"].map((p) => [
        p,
        "skipped",
      ]),
      ["metadata", "done"],
      ["publish", "skipped"],
    ]);
    const metadataPhase = view.phases.find((p) => p.name === "metadata")!;
    expect(metadataPhase.completedAt).toBeGreaterThanOrEqual(metadataPhase.startedAt!);
    expect(await client().composePhaseLog(id, "metadata")).toContain('"msg":"writing metadata"');
    expect(view.images).toEqual([
      { variant: "minimal", arch: "amd64", kind: "oci", path: "compose/minimal/amd64/oci", digest: null, size: 42 },
      { variant: "minimal", arch: "amd64", kind: "qcow2", path: "x.qcow2", digest: `sha256:${"b".repeat(64)}`, size: 42 },
    ]);
    expect(view.packages).toEqual([
      { variant: "minimal", arch: "amd64", name: "hello", version: "1.0-1", packageArch: "amd64", build: null },
    ]);
    expect(await client().getComposeSbom(id)).toEqual({ "minimal.amd64": { spdxVersion: "SPDX-2.3" } });
    // each phase's change reported once: init, the ten skipped, metadata done (and running, unless the
    // report queue was behind and sent only the newest); the end resends none
    const events = await client().listEvents({ type: "compose", limit: 1000 });
    const reports = events.filter((e) => e.data.compose === id && e.kind === "compose.phase").length;
    expect(reports).toBeGreaterThanOrEqual(12);
    expect(reports).toBeLessThanOrEqual(13);
  });

  it("ends DOOMED with the failed phase's error, or TERMINATED when interrupted", async () => {
    const doomed = await client().getCompose(await recordedCompose([failing, metadata]));
    expect(doomed.status).toBe("DOOMED");
    expect(doomed.phases.find((p) => p.name === "rootfs")).toMatchObject({
      status: "failed",
      error: { code: "COMMAND_FAILED", message: "mmdebstrap broke" },
    });
    expect(doomed.phases.find((p) => p.name === "metadata")?.status).toBe("skipped");

    const controller = new AbortController();
    const interrupted: Phase = {
      name: "gather",
      async run(ctx) {
        controller.abort();
        if (ctx.signal.aborted) throw coreError("INTERRUPTED", "interrupted");
      },
    };
    const terminated = await client().getCompose(await recordedCompose([interrupted, metadata], { signal: controller.signal }));
    expect(terminated.status).toBe("TERMINATED");
    expect(terminated.phases.find((p) => p.name === "gather")?.status).toBe("interrupted");
  });

  it("stays local when no hub was named and no phase connected to one", async () => {
    const before = (await client().listComposes()).length;
    const id = await recordedCompose([metadata], { named: false });
    expect(id).toMatch(/^demo-13\.0-/);
    expect(await client().listComposes()).toHaveLength(before);
  });

  it("is recorded from the phase that connects to a hub, with the phases before it", async () => {
    const id = await recordedCompose([metadata], { named: false, connected: true });
    const view = await client().getCompose(id);
    expect(view.status).toBe("FINISHED");
    expect(view.phases.filter((p) => p.status === "done").map((p) => p.name)).toEqual(["init", "build", "metadata"]);
  });

  it("sends where the publish phase put the compose; a channel URL that is not http(s) goes as none", async () => {
    const commit = { variant: "minimal", arch: "amd64", ref: "demo/amd64/minimal", commit: "c".repeat(64), delta: true, changed: true };
    // a stand-in for the publish phase: what it writes in compose/metadata/published.json
    const publishing = (url: string): Phase => ({
      name: "publish",
      async run(ctx) {
        const meta = join(ctx.composeDir, "compose", "metadata");
        await mkdir(meta, { recursive: true });
        await writeFile(join(meta, "published.json"), JSON.stringify({ url, commits: [commit] }));
      },
    });
    const view = await client().getCompose(await recordedCompose([metadata, publishing("https://updates.example.org/demo/")]));
    expect(view.status).toBe("FINISHED");
    expect(view.published).toEqual({ url: "https://updates.example.org/demo/", commits: [commit] });
    const local = await client().getCompose(await recordedCompose([metadata, publishing("file:///srv/ostree/demo")]));
    expect(local.published).toEqual({ url: null, commits: [commit] });
    // the definition names no channel: nothing published
    expect((await client().getCompose(await recordedCompose([metadata]))).published).toBeNull();
  });

  it("links a package to its build only when this hub built it", async () => {
    const composeDir = join(dir, "results");
    await mkdir(join(composeDir, "compose", "metadata"), { recursive: true });
    const origin = (hubUrl: string, build: number) => ({
      hub: hubUrl,
      tag: "t",
      build,
      task: 1,
      buildArchTask: 2,
      buildroot: 3,
      host: "b",
    });
    const list = [
      { name: "ours", version: "1", arch: "amd64", orchestrator: origin("http://127.0.0.1:9/", 7) },
      { name: "theirs", version: "1", arch: "amd64", orchestrator: origin("http://127.0.0.2:9", 8) },
      { name: "debian", version: "1", arch: "all" },
    ];
    await writeFile(
      join(composeDir, "compose", "metadata", "packages.json"),
      JSON.stringify({ payload: { packages: { v: { amd64: list } } } }),
    );
    const results = await composeResults(composeDir, "http://127.0.0.1:9");
    expect(results.packages?.map((p) => [p.name, p.build])).toEqual([
      ["ours", 7],
      ["theirs", null],
      ["debian", null],
    ]);
    expect(results).not.toHaveProperty("sbom");
    expect(results.images).toEqual([]);
  });

  it("renews its lease through a long silent phase, so the hub does not end it as abandoned", async () => {
    const shortLease = await startHub({ db: `sqlite:${join(dir, "short-lease.db")}`, dataDir: join(dir, "short-lease"), leaseMs: 1000 });
    try {
      const watcher = new HubClient({ url: shortLease.url });
      const seen: string[] = [];
      // a rootfs phase: silent for three lease periods
      const silent: Phase = {
        name: "rootfs",
        async run(ctx) {
          for (let i = 0; i < 10; i++) {
            await new Promise((resolve) => setTimeout(resolve, 300));
            seen.push((await watcher.getCompose(ctx.composeId)).status);
          }
        },
      };
      const shortLeaseToken = (await readFile(shortLease.adminTokenFile, "utf8")).trim();
      const composeId = await recordedCompose([silent, metadata], {
        hub: { url: shortLease.url, token: shortLeaseToken },
        heartbeatMs: 100,
      });
      expect(new Set(seen)).toEqual(new Set(["STARTED"]));
      expect((await watcher.getCompose(composeId)).status).toBe("FINISHED");
    } finally {
      await shortLease.close();
    }
  }, 60_000);
});
