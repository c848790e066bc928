/**
 * System tier, the image side end to end on the shipped minimal definition (its minimal variant):
 * rootfs (mmdebstrap from the host's mirror) -> ostree commit (trixie's ostree in a deb-mock runroot)
 * -> qcow2 disk image -> boot to the marker under QEMU/OVMF; a recompose of the same tree gives "no
 * changes"; a second compose with one package more is upgraded to from the first image, booted, rolled
 * back. Needs root, mmdebstrap, bubblewrap, qemu-system-x86, qemu-utils, ovmf, gdisk, mtools,
 * dosfstools, e2fsprogs; about 12 minutes under TCG on 2 cores. Step durations go to the test output.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Phase, readComposeStatus, runCompose } from "../compose/phase-engine.js";
import { ROOTFS_STATE, type RootfsTree } from "../compose/phases.js";
import { parseDefinition } from "../definition.js";
import { sha256File } from "../disk/disk-image.js";
import { createImageBuildPhase, type DiskImageRecord } from "../disk/image-build-phase.js";
import { lintImage } from "../lint/image-lint.js";
import { fsckRepo } from "../ostree/commit.js";
import { type OstreeCommitRecord, ostreePhase } from "../ostree/ostree-phase.js";
import { createRootfsPhase } from "../rootfs/rootfs-phase.js";
import type { BootTestRecord } from "./test-phase.js";
import { createTestPhase } from "./test-phase.js";

const tools = [
  "/usr/bin/mmdebstrap",
  "/usr/bin/qemu-system-x86_64",
  "/usr/bin/qemu-img",
  "/usr/sbin/sgdisk",
  "/usr/bin/mcopy",
  "/usr/bin/bwrap",
];
// a developer without root or QEMU skips; CI never does, so a missing tool fails there loudly
const ready = Boolean(process.env.CI) || (process.getuid?.() === 0 && tools.every((t) => existsSync(t)) && existsSync("/usr/share/OVMF"));
const example = join(import.meta.dirname, "..", "..", "..", "..", "examples", "minimal.yaml");
let work: string | undefined;
const timings: Record<string, number> = {};

/** The shipped example with only its minimal variant, a small qcow2, and `extra` packages. */
async function definitionFile(dir: string, extra: string[] = []): Promise<{ path: string; text: string }> {
  let text = await readFile(example, "utf8");
  const variants = /\n {2}standard:\n(?: {4}.*\n)+/;
  expect(text).toMatch(variants);
  text = text.replace(variants, "\n");
  expect(text).toMatch(/^outputs: .*$/m);
  text = text.replace(/^outputs: .*$/m, "outputs: [ostree, qcow2]\ndisk:\n  size: 2G");
  if (extra.length) text = text.replace(/^packages:\n/m, `packages:\n${extra.map((p) => `  - ${p}\n`).join("")}`);
  const path = join(dir, `def-${extra.length}.yaml`);
  await writeFile(path, text);
  return { path, text };
}

function phaseTimes(phases: Array<{ name: string; durationMs?: number }>, prefix: string): void {
  for (const p of phases) if (p.durationMs !== undefined && p.name !== "init") timings[`${prefix} ${p.name}`] = p.durationMs;
}

describe.skipIf(!ready)("image side: rootfs, ostree, disk image, boot, A/B update", () => {
  afterAll(async () => {
    console.log(`step durations (ms): ${JSON.stringify(timings, null, 1)}`);
    if (work) await rm(work, { recursive: true, force: true });
  });

  let first: { dir: string; id: string; commit: OstreeCommitRecord; disk: DiskImageRecord; tree: string } | undefined;

  it("composes the minimal variant, commits it, builds a qcow2 and boots it to the marker", { timeout: 900_000 }, async () => {
    work = await mkdtemp(join(tmpdir(), "compose-boot-"));
    const out = join(work, "out");
    const def = await definitionFile(work);
    const definition = parseDefinition(def.text, def.path);
    let captured: { commits?: OstreeCommitRecord[]; disks?: DiskImageRecord[]; tests?: BootTestRecord[]; trees?: RootfsTree[] } = {};
    const capture: Phase = {
      name: "metadata",
      async run(ctx) {
        captured = {
          commits: ctx.state.get("ostree") as OstreeCommitRecord[],
          disks: ctx.state.get("disk-images") as DiskImageRecord[],
          tests: ctx.state.get("boot-tests") as BootTestRecord[],
          trees: ctx.state.get(ROOTFS_STATE) as RootfsTree[],
        };
      },
    };
    const result = await runCompose({
      definition,
      definitionPath: def.path,
      outputDir: out,
      phases: [createRootfsPhase({ baseDir: work }), ostreePhase, createImageBuildPhase(), createTestPhase(), capture],
    });
    phaseTimes(result.phases, "compose-1");
    expect(result.status).toBe("FINISHED");
    const tree = captured.trees![0]!.path;
    const lint = await lintImage(tree);
    expect(lint.results.filter((r) => !r.ok && r.severity === "error")).toEqual([]);
    const commit = captured.commits![0]!;
    expect(commit).toMatchObject({ variant: "minimal", arch: "amd64", ref: "debian-bootc-minimal/13.0/amd64/minimal", changed: true });
    const started = Date.now();
    await fsckRepo(commit.repo);
    timings["ostree fsck"] = Date.now() - started;
    const disk = captured.disks![0]!;
    const qcow2 = disk.files[0]!;
    expect(qcow2.format).toBe("qcow2");
    expect(qcow2.sha256).toBe(await sha256File(qcow2.path));
    expect(qcow2.size).toBe((await stat(qcow2.path)).size);
    const boot = captured.tests![0]!;
    expect(boot).toMatchObject({ kind: "marker", passed: true });
    expect(boot.steps[0]!.marker).toMatchObject({
      composeId: result.composeId,
      commit: commit.commit,
      bootedDeployment: { commit: commit.commit },
    });
    timings["boot to marker"] = boot.steps[0]!.timeToMarkerMs!;
    expect(await readFile(join(result.composeDir, "logs", "boot-minimal-amd64.log"), "utf8")).toContain(
      `deb-bootc-compose: booted compose=${result.composeId}`,
    );
    first = { dir: result.composeDir, id: result.composeId, commit, disk, tree };
  });

  it("recommitting the same tree gives no changes and reuses the commit", { timeout: 300_000 }, async () => {
    expect(first).toBeDefined();
    const def = await definitionFile(work!);
    const definition = parseDefinition(def.text.replace("outputs: [ostree, qcow2]", "outputs: [ostree]"), def.path);
    const sameTree: Phase = {
      name: "rootfs",
      async run(ctx) {
        ctx.state.set(ROOTFS_STATE, [{ variant: "minimal", arch: "amd64", path: first!.tree }] satisfies RootfsTree[]);
      },
    };
    const result = await runCompose({
      definition,
      definitionPath: def.path,
      outputDir: join(work!, "out"),
      phases: [sameTree, ostreePhase],
    });
    phaseTimes(result.phases, "recompose");
    const record = JSON.parse(await readFile(join(result.composeDir, "compose", "minimal", "amd64", "ostree-commit.json"), "utf8"));
    expect(record).toMatchObject({ commit: first!.commit.commit, changed: false });
    expect(await readFile(join(result.composeDir, "logs", "ostree.log"), "utf8")).toContain("no changes: the previous commit is reused");
  });

  it("a second compose with one package more: the first image upgrades to it, boots it, rolls back", { timeout: 1_200_000 }, async () => {
    expect(first).toBeDefined();
    const def = await definitionFile(work!, ["hello"]);
    const definition = parseDefinition(def.text.replace("outputs: [ostree, qcow2]", "outputs: [ostree]"), def.path);
    let tests: BootTestRecord[] = [];
    let commit: OstreeCommitRecord | undefined;
    const capture: Phase = {
      name: "metadata",
      async run(ctx) {
        tests = ctx.state.get("boot-tests") as BootTestRecord[];
        commit = (ctx.state.get("ostree") as OstreeCommitRecord[])[0];
      },
    };
    const result = await runCompose({
      definition,
      definitionPath: def.path,
      outputDir: join(work!, "out"),
      phases: [createRootfsPhase({ baseDir: work! }), ostreePhase, createTestPhase(), capture],
    });
    phaseTimes(result.phases, "compose-2");
    expect(result.status, await readFile(join(result.composeDir, "logs", "test.log"), "utf8").catch(() => "")).toBe("FINISHED");
    expect(commit).toMatchObject({ changed: true, parent: first!.commit.commit });
    const ab = tests.find((t) => t.kind === "ab-update")!;
    expect(ab, JSON.stringify(tests)).toMatchObject({ passed: true, image: first!.disk.files[0]!.path });
    expect(ab.steps.map((s) => [s.name, s.marker?.commit])).toEqual([
      ["upgrade", first!.commit.commit],
      ["updated", commit!.commit],
      ["rolled-back", first!.commit.commit],
    ]);
    expect(ab.steps[1]!.marker!.composeId).toBe(result.composeId);
    expect(ab.steps[1]!.marker!.deployments).toEqual([commit!.commit, first!.commit.commit]);
    for (const s of ab.steps) timings[`ab ${s.name} boot`] = s.durationMs;
    const log = await readFile(join(result.composeDir, "logs", "boot-minimal-amd64-ab-update.log"), "utf8");
    expect(log).toContain("deb-bootc-test: step upgrade done");
    expect(log).toContain("deb-bootc-test: step rollback done");
    expect((await readComposeStatus(result.composeDir)).status).toBe("FINISHED");
  });
});
