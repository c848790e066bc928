/**
 * System tier: a recompose with nothing changed reuses the root tree, the OSTree commit, the OCI image,
 * the lint results and the disk image. The shipped minimal definition (its minimal variant, outputs
 * ostree, oci and qcow2) composed through build, pkgset, gather, snapshot-repo, rootfs, ostree, oci,
 * lint, image-build and metadata, four times into one output directory: the first builds the tree and
 * publishes it to the rootfs cache, the second (nothing changed) copies it from there, takes over the
 * first compose's commit without committing, its OCI layout (same manifest digest), lint results and
 * disk image (the same file, hard-linked); the third (one kernel argument more: the tree and commit are
 * the same) makes a new disk image; the fourth (one package more) builds a new tree and commits it. The
 * rootfs cache is the test's own (the .deb and index caches are the machine's shared ones, linked in).
 * Needs root, mmdebstrap, bubblewrap, skopeo; about 8 minutes on 2 cores.
 */
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashFileWith } from "@debian-bootc/debian";
import { afterAll, describe, expect, it } from "vitest";
import { OrchestratorConnection } from "../build/orchestrator-connection.js";
import { type ComposeResult, runCompose } from "../compose/phase-engine.js";
import { composePhases } from "../compose/registry.js";
import { capturingState } from "../compose/state-capture.js";
import { parseDefinition } from "../definition.js";
import type { DiskImageRecord } from "../disk/image-build-phase.js";
import type { OstreeCommitRecord } from "../ostree/ostree-phase.js";
import { defaultCacheDir } from "../pkgset/cache-dir.js";
import { DPKG_SYSIMAGE_DIR } from "./ostree-layout.js";
import { ROOTFS_CACHE_SUBDIR } from "./rootfs-cache.js";
import type { RootfsDetails } from "./rootfs-phase.js";

const tools = ["/usr/bin/mmdebstrap", "/usr/bin/bwrap", "/usr/bin/skopeo"];
const ready = Boolean(process.env.CI) || (process.getuid?.() === 0 && tools.every((t) => existsSync(t)));
const example = join(import.meta.dirname, "..", "..", "..", "..", "examples", "minimal.yaml");
let work: string | undefined;

interface Run {
  result: ComposeResult;
  details: RootfsDetails & { path: string };
  commit: OstreeCommitRecord;
  disk: DiskImageRecord;
  manifestDigest: string;
  phasesJson: { phases: Array<{ name: string; notes?: string[]; durationMs?: number }> };
}

async function compose(out: string, cacheDir: string, extra: string[] = [], karg?: string): Promise<Run> {
  let text = await readFile(example, "utf8");
  text = text.replace(/\n {2}standard:\n(?: {4}.*\n)+/, "\n");
  text = text.replace(/^outputs: .*$/m, "outputs: [ostree, oci, qcow2]\ndisk:\n  size: 2G");
  if (karg) text = text.replace(/^kargs:\n/m, `kargs:\n  - ${karg}\n`);
  text = text.replace(/^failable: .*$/m, "");
  if (extra.length) text = text.replace(/^packages:\n/m, `packages:\n${extra.map((p) => `  - ${p}\n`).join("")}`);
  const path = join(work!, `def-${extra.length}-${karg ?? ""}.yaml`);
  await writeFile(path, text);
  const definition = parseDefinition(text, path);
  const orchestrator = new OrchestratorConnection();
  const composed = capturingState(composePhases({ baseDir: work!, cacheDir, orchestrator }));
  const result = await runCompose({
    definition,
    definitionPath: path,
    outputDir: out,
    phases: composed.phases,
    skipPhases: ["test"],
  }).finally(() => orchestrator.close());
  expect(result.status, JSON.stringify(result.phases.filter((p) => p.outcome !== "done" && p.outcome !== "skipped"))).toBe("FINISHED");
  const layout = join(result.composeDir, "compose", "minimal", "amd64", "oci");
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
  const phasesJson = JSON.parse(await readFile(join(result.composeDir, "logs", "phases.json"), "utf8"));
  console.log(
    `${result.composeId}: ${result.phases
      .filter((p) => p.durationMs !== undefined)
      .map((p) => `${p.name} ${((p.durationMs ?? 0) / 1000).toFixed(1)} s`)
      .join(", ")}`,
  );
  const state = composed.state();
  // the tree's path is the rootfs phase's record (details have none when a builder made the tree)
  const details = { ...state.get("rootfs-details")[0]!, path: state.get("rootfs")[0]!.path };
  const commit = state.get("ostree")[0]!;
  const disk = state.get("disk-images")[0]!;
  return { result, details, commit, disk, manifestDigest: index.manifests[0]!.digest, phasesJson };
}

describe.skipIf(!ready)("rootfs and ostree reuse on a recompose", () => {
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("reuses the tree, the commit and the images when nothing changed, a new disk image for a kernel argument, a new tree for one package more", {
    timeout: 1_500_000,
  }, async () => {
    work = await mkdtemp(join(tmpdir(), "rootfs-reuse-"));
    // the compose\'s sandbox root (an unprivileged id of the range) must be able to enter it
    await chmod(work, 0o755);
    const out = join(work, "out");
    // a private rootfs cache, the machine's .debs and indexes
    const shared = await defaultCacheDir();
    const cacheDir = join(work, "cache");
    await mkdir(join(shared, "debs"), { recursive: true });
    await mkdir(join(shared, "indexes"), { recursive: true });
    await mkdir(cacheDir);
    await symlink(join(shared, "debs"), join(cacheDir, "debs"));
    await symlink(join(shared, "indexes"), join(cacheDir, "indexes"));

    const first = await compose(out, cacheDir);
    expect(first.details).toMatchObject({ origin: "built", from: "snapshot" });
    expect(first.details.key).toMatch(/^[0-9a-f]{64}$/);
    expect(first.commit).toMatchObject({ changed: true, treeKey: first.details.key, treeId: first.details.treeId });
    const entry = JSON.parse(await readFile(join(cacheDir, ROOTFS_CACHE_SUBDIR, first.details.key!, "entry.json"), "utf8"));
    expect(entry).toMatchObject({ key: first.details.key, treeId: first.details.treeId, composeId: first.result.composeId });
    // the image does not point at the compose's snapshot on this host
    expect(await readFile(join(first.details.path, "etc/apt/sources.list"), "utf8")).not.toMatch(/copy:|file:|compose\/repo/);

    const second = await compose(out, cacheDir);
    expect(second.details).toMatchObject({
      origin: "reused",
      key: first.details.key,
      treeId: first.details.treeId,
      builtBy: first.result.composeId,
      kver: first.details.kver,
    });
    expect(second.commit).toMatchObject({ commit: first.commit.commit, changed: false, reusedFrom: first.result.composeId });
    expect(second.manifestDigest).toBe(first.manifestDigest);
    const notes = Object.fromEntries(second.phasesJson.phases.map((p) => [p.name, (p.notes ?? []).join("; ")]));
    expect(notes.rootfs).toMatch(new RegExp(`reused from the cache \\(key ${first.details.key!.slice(0, 12)}`));
    expect(notes.ostree).toMatch(new RegExp(`commit ${first.commit.commit.slice(0, 12)} of ${first.result.composeId} reused`));
    expect(notes.oci).toMatch(new RegExp(`image sha256:[0-9a-f]{12} of ${first.result.composeId} reused`));
    const commitJson = JSON.parse(
      await readFile(join(second.result.composeDir, "compose", "minimal", "amd64", "ostree-commit.json"), "utf8"),
    );
    expect(commitJson).toMatchObject({ commit: first.commit.commit, treeId: first.details.treeId, reusedFrom: first.result.composeId });
    // the reused tree is whole: the kernel, the initramfs and the dpkg database are in it
    expect(existsSync(join(second.details.path, "usr/lib/modules", second.details.kver, "initramfs.img"))).toBe(true);
    expect(await readFile(join(second.details.path, DPKG_SYSIMAGE_DIR, "status"), "utf8")).toMatch(/^Package: systemd$/m);

    // the disk image is the first compose's very file, with its root UUID and checksum
    const qcow2 = (r: Run) => r.disk.files.find((f) => f.format === "qcow2")!;
    expect(notes["image-build"]).toMatch(new RegExp(`disk images of ${first.result.composeId} reused`));
    expect(notes.lint).toMatch(new RegExp(`results of ${first.result.composeId} reused`));
    expect(second.disk.rootUuid).toBe(first.disk.rootUuid);
    expect(qcow2(second).sha256).toBe(qcow2(first).sha256);
    expect((await stat(qcow2(second).path)).ino).toBe((await stat(qcow2(first).path)).ino);
    const sums = await readFile(join(second.result.composeDir, "compose", "SHA256SUMS"), "utf8");
    expect(sums).toContain(`${qcow2(first).sha256}  minimal/amd64/images/`);

    // a kernel argument is not in the tree or the commit, but it is in the disk image
    const kargs = await compose(out, cacheDir, [], "quiet");
    expect(kargs.details).toMatchObject({ origin: "reused", treeId: first.details.treeId });
    expect(kargs.commit).toMatchObject({ commit: first.commit.commit, changed: false });
    const kargsNotes = Object.fromEntries(kargs.phasesJson.phases.map((p) => [p.name, (p.notes ?? []).join("; ")]));
    expect(kargsNotes["image-build"] ?? "").not.toMatch(/reused/);
    expect(kargs.disk.rootUuid).not.toBe(first.disk.rootUuid);
    expect((await stat(qcow2(kargs).path)).ino).not.toBe((await stat(qcow2(first).path)).ino);
    // the first compose's image was not written through the link
    expect((await hashFileWith(qcow2(first).path, ["sha256"])).sha256).toBe(qcow2(first).sha256);

    const third = await compose(out, cacheDir, ["less"]);
    expect(third.details.origin).toBe("built");
    expect(third.details.key).not.toBe(first.details.key);
    expect(await readFile(join(third.details.path, DPKG_SYSIMAGE_DIR, "status"), "utf8")).toMatch(/^Package: less$/m);
    expect(third.commit.changed).toBe(true);
    expect(third.commit.commit).not.toBe(first.commit.commit);
    expect(third.manifestDigest).not.toBe(first.manifestDigest);
  });
});
