import { mkdtemp, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { coreError, isCodedError, memoryOutput, runCli } from "@debian-bootc/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseDefinition } from "../definition.js";
import { tool } from "../tool.js";
import { type ComposeEvent, ComposeEvents } from "./compose-events.js";
import { claimComposeDir, formatComposeId, parseComposeId } from "./compose-id.js";
import { type ComposeRunOptions, type Phase, readComposeStatus, runCompose } from "./phase-engine.js";

let out: string;
let defPath: string;
const definition = parseDefinition('name: demo\nversion: "13.0"\nfailable: [boot-test]\n', "demo.yaml");
const now = new Date("2026-11-26T12:00:00Z");

beforeEach(async () => {
  out = await mkdtemp(join(tmpdir(), "compose-"));
  defPath = join(out, "demo.yaml");
  await writeFile(defPath, 'name: demo\nversion: "13.0"\n');
});
afterEach(async () => {
  await rm(out, { recursive: true, force: true });
});

const ran: string[] = [];
const ok = (name: Phase["name"]): Phase => ({
  name,
  async run(ctx) {
    ran.push(name);
    ctx.logger.info({ detail: 1 }, `${name} working`);
  },
});
const failing = (name: Phase["name"], deliverable?: string): Phase => ({
  name,
  deliverable,
  async run() {
    throw coreError("COMMAND_FAILED", `${name} broke`);
  },
});
/** A compose of the demo definition into `out` at `now`, running these phases. */
const compose = (phases: Phase[], options: Partial<ComposeRunOptions> = {}) =>
  runCompose({ definition, definitionPath: defPath, outputDir: out, now, phases, ...options });

describe("compose IDs", () => {
  it("formats and parses <name>-<version>-<YYYYMMDD>.<n>", () => {
    expect(formatComposeId("debian-bootc", "13.0", "20261126", 2)).toBe("debian-bootc-13.0-20261126.2");
    expect(parseComposeId("debian-bootc-13.0-20261126.2")).toEqual({ name: "debian-bootc", version: "13.0", date: "20261126", n: 2 });
  });

  it("counts n up per day", async () => {
    expect((await claimComposeDir(out, "demo", "1", now)).id).toBe("demo-1-20261126.0");
    expect((await claimComposeDir(out, "demo", "1", now)).id).toBe("demo-1-20261126.1");
    expect((await claimComposeDir(out, "demo", "1", new Date("2026-11-27T00:00:01Z"))).id).toBe("demo-1-20261127.0");
    expect((await claimComposeDir(out, "demo", "2", now)).id).toBe("demo-2-20261126.0");
  });
});

describe("runCompose", () => {
  it("records a phase's notes in its record and in logs/phases.json", async () => {
    const noting: Phase = {
      name: "rootfs",
      async run(ctx) {
        ctx.emit({ phase: "rootfs", kind: "note", text: "minimal/amd64: tree reused from the cache (key 0123456789ab)" });
        ctx.emit({ phase: "rootfs", kind: "note", text: "second note" });
      },
    };
    const result = await compose([noting, ok("oci")]);
    expect(result.phases.find((p) => p.name === "rootfs")?.notes).toEqual([
      "minimal/amd64: tree reused from the cache (key 0123456789ab)",
      "second note",
    ]);
    expect(result.phases.find((p) => p.name === "oci")?.notes).toBeUndefined();
    const written = JSON.parse(await readFile(join(result.composeDir, "logs", "phases.json"), "utf8"));
    expect(written.phases.find((p: { name: string }) => p.name === "rootfs").notes).toHaveLength(2);
  });

  it("reports the run on one event stream: each phase started, its notes and events, ended with its record", async () => {
    const events: ComposeEvent[] = [];
    const stream = new ComposeEvents();
    stream.subscribe((e) => events.push(e));
    const resolving: Phase = {
      name: "pkgset",
      async run(ctx) {
        ctx.emit({ phase: "pkgset", kind: "resolved", variant: "minimal", arch: "amd64", packages: 3 });
        ctx.emit({ phase: "pkgset", kind: "note", text: "resolved from the lockfile" });
      },
    };
    await compose([resolving, failing("oci")], { events: stream }).catch(() => undefined);
    expect(events.map((e) => `${e.phase} ${e.kind}`)).toEqual([
      "init initialized",
      "pkgset started",
      "pkgset resolved",
      "pkgset note",
      "pkgset ended",
      "oci started",
      "oci ended",
    ]);
    const ended = events.filter((e) => e.kind === "ended").map((e) => e.record);
    expect(ended.map((r) => [r.name, r.outcome, r.notes])).toEqual([
      ["pkgset", "done", ["resolved from the lockfile"]],
      ["oci", "failed", undefined],
    ]);
    expect(await readFile(join(out, "demo-13.0-20261126.0", "logs", "pkgset.log"), "utf8")).toContain(
      '"note":"resolved from the lockfile"',
    );
  });

  it("hands typed state from phase to phase; a read before the producing phase is a PHASE_PREREQUISITE error", async () => {
    const seen: string[] = [];
    const rootfs: Phase = {
      name: "rootfs",
      async run(ctx) {
        ctx.state.set("rootfs", [{ variant: "minimal", arch: "amd64", path: "/tree" }]);
        expect(() => ctx.state.set("rootfs", [])).toThrow(/written once, by the rootfs phase/);
      },
    };
    const ostree: Phase = {
      name: "ostree",
      async run(ctx) {
        seen.push(...ctx.state.get("rootfs").map((t) => t.path));
        expect(ctx.state.find("pkgset")).toBeUndefined();
        ctx.state.get("snapshot");
      },
    };
    const error = await compose([rootfs, ostree]).catch((e) => e);
    expect(seen).toEqual(["/tree"]);
    expect(error.message).toMatch(/phase ostree failed: the compose state has no snapshot: the snapshot-repo phase did not run/);
    expect(isCodedError(error.cause, "PHASE_PREREQUISITE")).toBe(true);
  });

  it("runs the phases in order, logs each, writes FINISHED and the latest link", async () => {
    ran.length = 0;
    const result = await compose([ok("oci"), ok("pkgset"), ok("lint")]);
    expect(ran).toEqual(["pkgset", "oci", "lint"]);
    expect(result.composeId).toBe("demo-13.0-20261126.0");
    expect(result.status).toBe("FINISHED");
    expect(await readFile(join(result.composeDir, "STATUS"), "utf8")).toBe("FINISHED\n");
    expect(await readlink(join(out, "latest-demo"))).toBe("demo-13.0-20261126.0");
    expect(await readFile(join(result.composeDir, "compose/metadata/demo.yaml"), "utf8")).toContain("name: demo");
    const log = (await readFile(join(result.composeDir, "logs/pkgset.log"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(log.map((l) => l.msg)).toEqual(["phase started", "pkgset working", "phase finished"]);
    const status = await readComposeStatus(result.composeDir);
    expect(status.phases.find((p) => p.name === "gather")?.outcome).toBe("skipped");
    expect(status.phases.find((p) => p.name === "oci")?.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("honours --skip-phase and --just-phase, and rejects unknown phase names with a suggestion", async () => {
    ran.length = 0;
    await compose([ok("pkgset"), ok("oci"), ok("lint")], { skipPhases: ["oci"] });
    expect(ran).toEqual(["pkgset", "lint"]);
    ran.length = 0;
    await compose([ok("pkgset"), ok("oci"), ok("lint")], { justPhases: ["oci"] });
    expect(ran).toEqual(["oci"]);
    await expect(compose([], { skipPhases: ["osstree"] })).rejects.toThrow(
      /--skip-phase osstree: no such phase \(did you mean "ostree"\?\)/,
    );
  });

  it("ends DOOMED with the phase and error in the log when a phase fails, and a rerun gets a new ID", async () => {
    ran.length = 0;
    const error = await compose([failing("gather"), ok("oci")]).catch((e) => e);
    expect(isCodedError(error, "COMPOSE_PHASE_FAILED")).toBe(true);
    expect(error.message).toMatch(/demo-13.0-20261126.0: phase gather failed: gather broke/);
    const dir = join(out, "demo-13.0-20261126.0");
    expect(await readFile(join(dir, "STATUS"), "utf8")).toBe("DOOMED\n");
    expect(await readFile(join(dir, "logs/gather.log"), "utf8")).toMatch(/"COMMAND_FAILED".*phase failed/);
    expect(ran).toEqual([]); // nothing after the failed phase
    await expect(readlink(join(out, "latest-demo"))).rejects.toThrow();
    const rerun = await compose([ok("gather")]);
    expect(rerun.composeId).toBe("demo-13.0-20261126.1");
    expect(rerun.status).toBe("FINISHED");
  });

  it("ends FINISHED_INCOMPLETE when only a failable deliverable fails", async () => {
    ran.length = 0;
    const result = await compose([failing("test", "boot-test"), ok("metadata")]);
    expect(result.status).toBe("FINISHED_INCOMPLETE");
    expect(ran).toEqual(["metadata"]);
    expect(result.phases.find((p) => p.name === "test")?.outcome).toBe("failed-failable");
  });

  it("takes a run's own failable deliverables besides the definition's (an image task hands the verdict on)", async () => {
    ran.length = 0;
    const doomed = await compose([failing("image-build", "qcow2"), ok("metadata")]).catch((e) => e);
    expect(isCodedError(doomed, "COMPOSE_PHASE_FAILED")).toBe(true);
    const result = await compose([failing("image-build", "qcow2"), ok("metadata")], { failable: ["qcow2"] });
    expect(result.status).toBe("FINISHED_INCOMPLETE");
    expect(result.phases.find((p) => p.name === "image-build")).toMatchObject({
      outcome: "failed-failable",
      error: { code: "COMMAND_FAILED", message: "image-build broke" },
    });
    expect(ran).toEqual(["metadata"]);
  });

  it("ends TERMINATED when interrupted", async () => {
    const controller = new AbortController();
    const interrupted: Phase = {
      name: "rootfs",
      async run() {
        controller.abort();
        throw coreError("INTERRUPTED", "interrupted by SIGINT");
      },
    };
    const result = await compose([interrupted, ok("oci")], { signal: controller.signal });
    expect(result.status).toBe("TERMINATED");
    expect(await readFile(join(result.composeDir, "STATUS"), "utf8")).toBe("TERMINATED\n");
  });

  it("deb-bootc-compose status prints the status and phases", async () => {
    const result = await compose([ok("pkgset")]);
    const output = memoryOutput();
    expect(await runCli(tool, ["status", result.composeDir], output)).toBe(0);
    expect(output.text[0]).toBe("demo-13.0-20261126.0: FINISHED");
    expect(output.text.some((l) => /pkgset\s+done/.test(l))).toBe(true);
    expect(await runCli(tool, ["status", out], output)).toBe(6);
  });
});
