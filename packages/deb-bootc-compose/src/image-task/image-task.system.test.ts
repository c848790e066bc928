/**
 * System tier: a compose's image phases as an image task, and its result placed back. A real compose of
 * the shipped minimal definition (its minimal variant; outputs ostree, oci, ociarchive, qcow2; one file
 * from the definition's folder) runs pkgset, gather and snapshot-repo here; a work directory is laid out
 * from it as a builder lays it out (snapshot files, the definition's files, request.json); `deb-bootc-compose
 * image-task W --json` runs as a child process and leaves W/out/result.json with the OSTree repository's
 * tar (holding the commit), an OCI archive skopeo inspects and the disk image. The result is then placed
 * into the compose (the commit pulled into compose/ostree/repo, the archive and image at the local
 * phases' paths) and the metadata phase lists them in images.json and SHA256SUMS (the builder's marker boot,
 * asked for when the client's test phase runs, boots for real in test/several-hosts.system.test.ts).
 * A second compose then sends the first one's commit: the builder's commit records it as its parent (by
 * checksum: the builder has no object of it), the client's repository holds both; its disk is too small,
 * so the task still succeeds with the commit and the OCI archive and the disk image's error in its phases.
 * A private rootfs cache; the machine's .debs and indexes. Needs root, mmdebstrap, bubblewrap, skopeo;
 * several minutes on 2 cores.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { run } from "@debian-bootc/core";
import { hashFileWith } from "@debian-bootc/debian";
import { afterAll, describe, expect, it } from "vitest";
import { OrchestratorConnection } from "../build/orchestrator-connection.js";
import { ComposeEvents } from "../compose/compose-events.js";
import { ComposeState } from "../compose/compose-state.js";
import { fileLogger, runCompose } from "../compose/phase-engine.js";
import { composePhases } from "../compose/registry.js";
import { capturingState } from "../compose/state-capture.js";
import { loadDefinition } from "../definition.js";
import { createMetadataPhase } from "../metadata/metadata-phase.js";
import { previousCommitOf } from "../ostree/ostree-phase.js";
import { runrootProfile, runrootScript } from "../ostree/runroot.js";
import { cacheWithPrivateRootfs, minimalVariantDefinition } from "./__fixtures__/minimal-compose.js";
import { prepareWorkDir } from "./__fixtures__/work-dir.js";
import { checkImageTask, failOnDiskImageFailures, placeImageResults, placeOstreeCommits } from "./place-result.js";
import { OSTREE_TAR } from "./run-image-task.js";
import { imageTaskInputs, imageTrustOf } from "./task-inputs.js";
import { type ResultJson, resultJsonSchema } from "./task-result.js";

const tools = ["/usr/bin/mmdebstrap", "/usr/bin/bwrap", "/usr/bin/skopeo", "/usr/bin/qemu-system-x86_64"];
const ready = Boolean(process.env.CI) || (process.getuid?.() === 0 && tools.every((t) => existsSync(t)));
const cli = join(import.meta.dirname, "..", "cli.ts");
let work: string | undefined;

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!ready)("image task", () => {
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("runs the image phases of a compose's variant/arch from a work directory, and its result is placed into the compose", {
    timeout: 1_800_000,
  }, async () => {
    work = await mkdtemp(join(tmpdir(), "image-task-"));
    // the sandbox's root (an unprivileged id of the range) must be able to enter it
    await chmod(work, 0o755);
    const cacheDir = await cacheWithPrivateRootfs(work);

    const defDir = join(work, "def");
    await mkdir(defDir);
    let text = await minimalVariantDefinition("[ostree, oci, ociarchive, qcow2]\ndisk:\n  size: 2G");
    text = text.replace(/^files:\n/m, 'files:\n  - dest: /usr/lib/motd.d/20-task\n    src: files/motd.txt\n    mode: "0644"\n');
    await mkdir(join(defDir, "files"));
    await writeFile(join(defDir, "files", "motd.txt"), "made by an image task\n");
    const defPath = join(defDir, "minimal.yaml");
    await writeFile(defPath, text);
    const out = join(work, "out");
    /** The client: the definition as it is now, its package side up to snapshot-repo, and the run's state. */
    const packageSide = async () => {
      const loaded = await loadDefinition(defPath);
      const orchestrator = new OrchestratorConnection();
      const composed = capturingState(composePhases({ baseDir: defDir, cacheDir, orchestrator }));
      const local = await runCompose({
        definition: loaded.definition,
        definitionPath: defPath,
        outputDir: out,
        phases: composed.phases,
        justPhases: ["pkgset", "gather", "snapshot-repo"],
      }).finally(() => orchestrator.close());
      expect(local.status).toBe("FINISHED");
      return { loaded, local, state: composed.state() };
    };
    const { loaded, local, state } = await packageSide();
    // nothing to chain on in a first compose
    expect(await previousCommitOf(local.composeDir, loaded.definition, "minimal", "amd64")).toBeUndefined();
    // the client's test phase is left out here: no marker boot asked for
    const inputs = await imageTaskInputs(loaded, state, "minimal", "amd64", await imageTrustOf(loaded, out));
    expect(inputs.definitionFiles.map((f) => f.path)).toEqual(["files/motd.txt"]);
    expect(inputs.snapshot.some((f) => f.path === "dists/trixie-minimal/InRelease")).toBe(true);
    expect(inputs.snapshot.some((f) => f.path.includes("snapshot-key"))).toBe(false);

    // the builder: W as the contract lays it out, the command as a child process
    const W = join(work, "task-1-1");
    // private, as the builder makes it: the command opens it to the image sandbox itself
    await mkdir(W, { mode: 0o700 });
    await prepareWorkDir(W, local.composeId, inputs);
    const ran = await runCli(["image-task", W, "--cache-dir", cacheDir, "--json"]);
    expect(ran.code, `${ran.stdout}\n${ran.stderr.slice(-4000)}`).toBe(0);
    expect(ran.stderr).toMatch(/image-build: done/);
    const written: ResultJson = resultJsonSchema.parse(JSON.parse(await readFile(join(W, "out", "result.json"), "utf8")));
    const kinds = Object.fromEntries(written.files.filter((f) => f.kind !== "log").map((f) => [f.name, f.kind]));
    expect(kinds).toEqual({
      [OSTREE_TAR]: "ostree-commit",
      "debian-bootc-minimal-minimal.ociarchive": "oci-archive",
      "debian-bootc-minimal-minimal-amd64-13.0.qcow2": "disk-image",
    });
    expect(written.files.filter((f) => f.kind === "log").map((f) => f.name)).toContain("log-rootfs-minimal-amd64.log");
    for (const f of written.files) expect((await stat(join(W, "out", f.name))).isFile()).toBe(true);
    const r = written.result;
    expect(r.rootfs).toMatchObject({ from: "snapshot", origin: "built" });
    expect(r.ostree?.ref).toBeTruthy();
    // the tar's repository holds the commit on its ref
    const listing = (await run("tar", ["--list", "--file", join(W, "out", OSTREE_TAR)])).stdout;
    expect(listing).toContain(`repo/objects/${r.ostree!.commit.slice(0, 2)}/${r.ostree!.commit.slice(2)}.commit`);
    const refHead = await run("tar", [
      "--extract",
      "--to-stdout",
      "--file",
      join(W, "out", OSTREE_TAR),
      `repo/refs/heads/${r.ostree!.ref}`,
    ]);
    expect(refHead.stdout.trim()).toBe(r.ostree!.commit);
    // an OCI archive skopeo reads, of the arch
    const inspected = JSON.parse(
      (await run("skopeo", ["inspect", "--raw", `oci-archive:${join(W, "out", "debian-bootc-minimal-minimal.ociarchive")}`])).stdout,
    ) as { layers?: unknown[] };
    expect(inspected.layers?.length).toBeGreaterThan(0);
    expect((await hashFileWith(join(W, "out", "debian-bootc-minimal-minimal.ociarchive"), ["sha256"])).sha256).toBe(r.oci?.sha256);
    const disk = r.disk!.files[0]!;
    expect((await stat(join(W, "out", disk.file))).size).toBe(disk.size);
    // the definition's file is in the image: the builder read it from W/definition
    expect(r.phases.find((p) => p.name === "lint")?.outcome).toBe("done");
    // not asked to boot, it did not
    expect(r.bootTests).toBeUndefined();

    // the client again: the files as downloaded, placed into the compose, then the metadata phase
    const downloaded = join(local.composeDir, "work", "image-tasks", "minimal-amd64");
    await mkdir(downloaded, { recursive: true });
    for (const f of written.files) await copyFile(join(W, "out", f.name), join(downloaded, f.name));
    const logger = fileLogger(join(local.composeDir, "logs", "place.log"));
    const ctx = {
      composeId: local.composeId,
      composeDir: local.composeDir,
      definition: loaded.definition,
      logger,
      signal: new AbortController().signal,
      state,
      emit: (e: Parameters<ComposeEvents["emit"]>[0]) => new ComposeEvents().emit(e),
    };
    await placeImageResults(ctx, [{ dir: downloaded, files: written.files, result: written.result }], defDir);
    await createMetadataPhase({}).run(ctx);
    await logger.flush();
    const images = JSON.parse(await readFile(join(local.composeDir, "compose", "metadata", "images.json"), "utf8")) as {
      payload: { images: Array<{ path: string; type: string; sha256?: string }> };
    };
    const byPath = Object.fromEntries(images.payload.images.map((i) => [i.path, i]));
    expect(byPath["compose/minimal/amd64/debian-bootc-minimal-minimal.ociarchive"]).toMatchObject({
      type: "ociarchive",
      sha256: r.oci!.sha256,
    });
    expect(byPath[`compose/minimal/amd64/images/${disk.file}`]).toMatchObject({ type: "qcow2", sha256: disk.sha256 });
    expect(byPath["compose/minimal/amd64/oci"]).toMatchObject({ type: "oci" });
    const sums = await readFile(join(local.composeDir, "compose", "SHA256SUMS"), "utf8");
    expect(sums).toContain(`${disk.sha256}  minimal/amd64/images/${disk.file}`);
    expect(sums).toContain(`${r.oci!.sha256}  minimal/amd64/debian-bootc-minimal-minimal.ociarchive`);
    expect(existsSync(join(local.composeDir, "compose", "minimal", "amd64", "oci", "index.json"))).toBe(true);
    expect(existsSync(join(local.composeDir, "logs", "image-task-minimal-amd64", "rootfs-minimal-amd64.log"))).toBe(true);
    // the commit is in the compose's repository on its ref
    const shown = await runrootScript('ostree show --repo=/repo "$1" && ostree rev-parse --repo=/repo "$1"', [r.ostree!.ref], {
      profile: runrootProfile(loaded.definition.suite, "amd64"),
      packages: ["ostree"],
      binds: [{ source: join(local.composeDir, "compose", "ostree", "repo"), target: "/repo", readOnly: true }],
    });
    expect(shown).toContain(r.ostree!.commit);
    expect(shown).toContain(local.composeId);
    expect(r.ostree!.parent).toBeUndefined();

    // a second compose: its image task chains on the first's commit, and its disk image fails (8M is too small)
    const smallDisk = text.replace("size: 2G", "size: 8M");
    await writeFile(defPath, smallDisk);
    const { loaded: loaded2, local: local2, state: state2 } = await packageSide();
    // its package side ended as latest-<name>; in a whole compose the image phases run before that, the first still the latest
    const latest = join(out, `latest-${loaded2.definition.name}`);
    await rm(latest);
    await symlink(basename(local.composeDir), latest);
    const previous = await previousCommitOf(local2.composeDir, loaded2.definition, "minimal", "amd64");
    expect(previous?.commit).toBe(r.ostree!.commit);
    const inputs2 = await imageTaskInputs(loaded2, state2, "minimal", "amd64", await imageTrustOf(loaded2, out), {
      previousCommit: previous!.commit,
    });
    expect(inputs2.state.previousCommit).toBe(r.ostree!.commit);
    const W2 = join(work, "task-2-1");
    await mkdir(W2, { mode: 0o700 });
    await prepareWorkDir(W2, local2.composeId, inputs2);
    const ran2 = await runCli(["image-task", W2, "--cache-dir", cacheDir, "--json"]);
    // a partial result: the task succeeds, the disk image's failure is in its phases
    expect(ran2.code, `${ran2.stdout}\n${ran2.stderr.slice(-4000)}`).toBe(0);
    const written2: ResultJson = resultJsonSchema.parse(JSON.parse(await readFile(join(W2, "out", "result.json"), "utf8")));
    const r2 = written2.result;
    expect(r2.rootfs.origin).toBe("reused");
    expect(r2.ostree?.parent).toBe(r.ostree!.commit);
    expect(r2.ostree?.commit).not.toBe(r.ostree!.commit);
    expect(r2.disk).toBeUndefined();
    expect(r2.phases.find((p) => p.name === "image-build")).toMatchObject({
      outcome: "failed-failable",
      error: { code: "DISK_IMAGE_FAILED" },
    });
    expect(
      written2.files
        .filter((f) => f.kind !== "log")
        .map((f) => f.kind)
        .sort(),
    ).toEqual(["oci-archive", "ostree-commit"]);
    expect(written2.files.map((f) => f.name)).toContain("log-image-build.log");

    // placed: the client's repository holds the new commit and its parent, pulled from the first compose
    const downloaded2 = join(local2.composeDir, "work", "image-tasks", "minimal-amd64");
    await mkdir(downloaded2, { recursive: true });
    for (const f of written2.files) await copyFile(join(W2, "out", f.name), join(downloaded2, f.name));
    const logger2 = fileLogger(join(local2.composeDir, "logs", "place.log"));
    const ctx2 = {
      ...ctx,
      composeId: local2.composeId,
      composeDir: local2.composeDir,
      definition: loaded2.definition,
      logger: logger2,
      state: state2,
    };
    const placed = await placeImageResults(
      ctx2,
      [{ dir: downloaded2, files: written2.files, result: written2.result, parent: r.ostree!.commit }],
      defDir,
    );
    await logger2.flush();
    expect(state2.get("ostree")[0]).toMatchObject({ commit: r2.ostree!.commit, parent: r.ostree!.commit });
    expect(() => failOnDiskImageFailures(placed)).toThrow(/minimal\/amd64: the disk image failed: DISK_IMAGE_FAILED: .*too small/);
    const chain = await runrootScript(
      'ostree rev-parse --repo=/repo "$1^" && ostree fsck --repo=/repo >&2 && ostree log --repo=/repo "$1"',
      [r2.ostree!.commit],
      {
        profile: runrootProfile(loaded2.definition.suite, "amd64"),
        packages: ["ostree"],
        binds: [{ source: join(local2.composeDir, "compose", "ostree", "repo"), target: "/repo", readOnly: true }],
      },
    );
    expect(chain.split("\n")[0]).toBe(r.ostree!.commit);
    // the parent's object is there too, as after a local commit: the log reaches the first compose's commit
    expect(chain).toContain(`commit ${r.ostree!.commit}`);
    expect(chain).not.toContain("History beyond this commit not fetched");

    // a builder that records another parent than the one sent is refused
    await rm(join(local2.composeDir, "compose", "ostree", "repo"), { recursive: true, force: true });
    const downloaded3 = join(local2.composeDir, "work", "image-tasks", "again");
    await mkdir(downloaded3, { recursive: true });
    for (const f of written2.files) await copyFile(join(W2, "out", f.name), join(downloaded3, f.name));
    const unsent = await checkImageTask({ dir: downloaded3, files: written2.files, result: written2.result });
    await expect(placeOstreeCommits({ ...ctx2, state: new ComposeState() }, [unsent], defDir)).rejects.toMatchObject({
      code: "IMAGE_RESULT_REFUSED",
      message: expect.stringContaining("the task was sent none"),
    });
  });
});
