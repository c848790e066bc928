/**
 * System tier, the whole compose end to end on the shipped minimal definition (its minimal variant,
 * outputs ostree, oci and qcow2) through every phase of the registry: pkgset, gather, signed APT
 * snapshot, rootfs installed from that snapshot (mmdebstrap), ostree commit (trixie's ostree in a
 * deb-mock runroot), OCI image, lint, qcow2, boot to the marker under QEMU/OVMF with Secure Boot
 * enforced, metadata. The same image then boots from SATA under SeaBIOS to its marker, where a step
 * script that exits 3 ends the boot at once with its status, and is refused with one byte of its signed
 * GRUB changed. Then
 * issue 6's checks: STATUS FINISHED, packages.json against the image's dpkg database, images.json
 * and SHA256SUMS against the files, `ostree fsck`, `skopeo inspect` and `umoci unpack` of the
 * layout, lint. A recompose of the same tree gives "no changes" and the same OCI manifest digest. The
 * update channel: the first and a second compose (one package more) are published into a signed
 * repository, served on loopback as the VM's only network (restrict=on, guestfwd); the first image,
 * from NVMe on a disk twice its size (which it grows to fill; checked in the same boot), upgrades over
 * HTTP through its stage update service, boots the second commit (the package's version checked),
 * refuses a third commit signed by another key, rolls back and boots the first again.
 * Needs root, mmdebstrap, bubblewrap, qemu-system-x86, qemu-utils, ovmf, gdisk, mtools, dosfstools,
 * e2fsprogs, skopeo, umoci, seabios, socat; about 10 minutes under TCG on 2 cores (3 of them the update
 * boots, 1 the SeaBIOS boot with its failing step and the refusal). Step durations and the update's bytes go to the test output.
 */
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError, run } from "@debian-bootc/core";
import { generateOpenPgpKey, hashFileWith, parseDeb822 } from "@debian-bootc/debian";
import { afterAll, describe, expect, it } from "vitest";
import { OrchestratorConnection } from "../build/orchestrator-connection.js";
import { type Phase, readComposeStatus, runCompose } from "../compose/phase-engine.js";
import { composePhases } from "../compose/registry.js";
import { capturingState } from "../compose/state-capture.js";
import { parseDefinition } from "../definition.js";
import { diskPartitions } from "../disk/gpt-layout.js";
import type { DiskImageRecord } from "../disk/image-build-phase.js";
import { lintImage } from "../lint/image-lint.js";
import { ociPhase } from "../oci/oci-phase.js";
import { fsckRepo } from "../ostree/commit.js";
import { channelRef, type OstreeCommitRecord, ostreePhase } from "../ostree/ostree-phase.js";
import { parseKeyValues, runrootScript } from "../ostree/runroot.js";
import { publishCommit, publishCompose } from "../publish/publish.js";
import { updateSigningKey } from "../publish/signing-key.js";
import { handBackToCaller, rangeWritableDirectory } from "../rootfs/chroot.js";
import { DPKG_SYSIMAGE_DIR } from "../rootfs/ostree-layout.js";
import { createRootfsPhase } from "../rootfs/rootfs-phase.js";
import { bootRefused, bootToMarker, httpUpdateTest, INSPECT_DONE, parseInspection, parseMarker, resultsLogPath } from "./boot-test.js";

// the kernel says so twice: its EFI stub, and setup_arch's "secureboot:" line (seen missing from one
// console log where the stub's line and mokutil's answer were there)
const SECURE_BOOT_ON = /secureboot: Secure boot enabled|EFI stub: UEFI Secure Boot is enabled/;

const tools = [
  "/usr/bin/mmdebstrap",
  "/usr/bin/qemu-system-x86_64",
  "/usr/bin/qemu-img",
  "/usr/sbin/sgdisk",
  "/usr/bin/mcopy",
  "/usr/bin/bwrap",
  "/usr/bin/skopeo",
  "/usr/bin/umoci",
  "/usr/bin/socat",
];
// a developer without root or QEMU skips; CI never does, so a missing tool fails there loudly
const ready = Boolean(process.env.CI) || (process.getuid?.() === 0 && tools.every((t) => existsSync(t)) && existsSync("/usr/share/OVMF"));
const example = join(import.meta.dirname, "..", "..", "..", "..", "examples", "minimal.yaml");
let work: string | undefined;
const timings: Record<string, number> = {};

/**
 * The shipped example with only its minimal variant, a small qcow2, `extra` packages, and an update
 * channel (signed by channel.asc beside it, the stage timer) whose URL is the address the boot test forwards.
 */
async function definitionFile(dir: string, extra: string[] = []): Promise<{ path: string; text: string }> {
  let text = await readFile(example, "utf8");
  const variants = /\n {2}standard:\n(?: {4}.*\n)+/;
  expect(text).toMatch(variants);
  text = text.replace(variants, "\n");
  expect(text).toMatch(/^outputs: .*$/m);
  text = text.replace(/^outputs: .*$/m, "outputs: [ostree, oci, qcow2]\ndisk:\n  size: 2G");
  if (extra.length) text = text.replace(/^packages:\n/m, `packages:\n${extra.map((p) => `  - ${p}\n`).join("")}`);
  text += "\nupdates:\n  url: http://10.0.2.100/\n  key: channel.asc\n  automatic: stage\n";
  if (!existsSync(join(dir, "channel.asc")))
    await writeFile(
      join(dir, "channel.asc"),
      (await generateOpenPgpKey({ name: "channel", email: "c@deb-bootc-compose.invalid" })).privateKey,
    );
  const path = join(dir, `def-${extra.length}.yaml`);
  await writeFile(path, text);
  return { path, text };
}

function phaseTimes(phases: Array<{ name: string; durationMs?: number }>, prefix: string): void {
  for (const p of phases) if (p.durationMs !== undefined && p.name !== "init") timings[`${prefix} ${p.name}`] = p.durationMs;
}

describe.skipIf(!ready)("the whole compose: every phase, issue 6's checks, recompose, A/B update", () => {
  afterAll(async () => {
    console.log(`step durations (ms): ${JSON.stringify(timings, null, 1)}`);
    if (work) await rm(work, { recursive: true, force: true });
  });

  let first:
    | { dir: string; id: string; commit: OstreeCommitRecord; disk: DiskImageRecord; tree: string; manifestDigest: string }
    | undefined;

  it("composes the minimal variant through every phase, boots it, and its metadata, repo and image check out", {
    timeout: 1_800_000,
  }, async () => {
    work = await mkdtemp(join(tmpdir(), "compose-boot-"));
    // the compose\'s sandbox root (an unprivileged id of the range) must be able to enter it
    await chmod(work, 0o755);
    const out = join(work, "out");
    const def = await definitionFile(work);
    const definition = parseDefinition(def.text, def.path);
    // the compose verb's phases; what the run left in its state is read afterwards
    const orchestrator = new OrchestratorConnection();
    const composed = capturingState(composePhases({ baseDir: work, orchestrator }));
    const result = await runCompose({ definition, definitionPath: def.path, outputDir: out, phases: composed.phases }).finally(() =>
      orchestrator.close(),
    );
    const state = composed.state();
    const captured = {
      commits: state.get("ostree"),
      disks: state.get("disk-images"),
      tests: state.get("boot-tests"),
      trees: state.get("rootfs"),
      details: state.get("rootfs-details"),
    };
    phaseTimes(result.phases, "compose-1");
    const outcomes = Object.fromEntries(result.phases.map((p) => [p.name, p.outcome]));
    expect(result.status, JSON.stringify(result.phases.filter((p) => p.outcome !== "done"))).toBe("FINISHED");
    for (const name of ["pkgset", "gather", "snapshot-repo", "rootfs", "ostree", "oci", "lint", "image-build", "test", "metadata"])
      expect(outcomes[name], name).toBe("done");
    expect((await readComposeStatus(result.composeDir)).status).toBe("FINISHED");
    expect((await readFile(join(result.composeDir, "STATUS"), "utf8")).trim()).toBe("FINISHED");
    // the rootfs was installed from the compose's own signed snapshot
    expect(captured.details![0]).toMatchObject({ variant: "minimal", arch: "amd64", from: "snapshot" });
    const tree = captured.trees![0]!.path;
    const lint = await lintImage(tree);
    expect(lint.results.filter((r) => !r.ok && r.severity === "error")).toEqual([]);
    expect(lint.errors).toBe(0);
    const commit = captured.commits![0]!;
    expect(commit).toMatchObject({ variant: "minimal", arch: "amd64", ref: "debian-bootc-minimal/13.0/amd64/minimal", changed: true });
    let started = Date.now();
    await fsckRepo(commit.repo);
    timings["ostree fsck"] = Date.now() - started;
    const disk = captured.disks![0]!;
    const qcow2 = disk.files[0]!;
    expect(qcow2.format).toBe("qcow2");
    expect(qcow2.sha256).toBe((await hashFileWith(qcow2.path, ["sha256"])).sha256);
    expect(qcow2.size).toBe((await stat(qcow2.path)).size);
    const boot = captured.tests![0]!;
    expect(boot).toMatchObject({ kind: "marker", passed: true });
    expect(boot.steps[0]!.marker).toMatchObject({
      composeId: result.composeId,
      commit: commit.commit,
      bootedDeployment: { commit: commit.commit },
    });
    timings["boot to marker"] = boot.steps[0]!.timeToMarkerMs!;
    // the test phase booted it with Secure Boot enforced: Microsoft's shim, Debian's GRUB and kernel
    expect(disk).toMatchObject({ secureBoot: true, firmware: "hybrid" });
    // the image carries the update channel: its remote verified with the channel's key, the origin on its ref
    expect(disk).toMatchObject({ remote: "debian-bootc-minimal", ref: "debian-bootc-minimal/amd64/minimal" });
    const remoteConf = await readFile(join(tree, "etc", "ostree", "remotes.d", "debian-bootc-minimal.conf"), "utf8");
    expect(remoteConf).toContain("url=http://10.0.2.100/\ngpg-verify=true\ngpg-verify-summary=true\n");
    const bootLog = await readFile(join(result.composeDir, "logs", "boot-minimal-amd64.log"), "utf8");
    // what the boot test read came over the results port, and is kept beside the console's boot log
    const portLog = await readFile(join(result.composeDir, "logs", "boot-minimal-amd64.results.log"), "utf8");
    expect(portLog).toContain(`deb-bootc-compose: booted compose=${result.composeId}`);
    expect(portLog).toContain("deb-bootc-compose: status end");
    expect(bootLog).toContain("(tcg, uefi-secure, virtio)");
    expect(bootLog).toMatch(SECURE_BOOT_ON);

    // packages.json lists exactly what the image's dpkg database has installed, with the same versions
    const composeSub = join(result.composeDir, "compose");
    const packagesJson = JSON.parse(await readFile(join(composeSub, "metadata", "packages.json"), "utf8")) as {
      payload: { packages: Record<string, Record<string, Array<{ name: string; version: string; arch: string }>>> };
    };
    const listed = packagesJson.payload.packages.minimal!.amd64!.map((p) => `${p.name} ${p.version} ${p.arch}`).sort();
    const installed = parseDeb822(await readFile(join(tree, DPKG_SYSIMAGE_DIR, "status"), "utf8"))
      .filter((p) => p.get("Status") === "install ok installed")
      .map((p) => `${p.get("Package")} ${p.get("Version")} ${p.get("Architecture")}`)
      .sort();
    expect(installed.length).toBeGreaterThan(50);
    expect(listed).toEqual(installed);

    // images.json: the OCI layout with its manifest digest, the qcow2 with its sha256 and size
    const layout = join(composeSub, "minimal", "amd64", "oci");
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
    const manifestDigest = index.manifests[0]!.digest;
    expect(manifestDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const images = (
      JSON.parse(await readFile(join(composeSub, "metadata", "images.json"), "utf8")) as {
        payload: { images: Array<{ type: string; format: string; path: string; size: number; sha256?: string; digest?: string }> };
      }
    ).payload.images;
    const ociImage = images.find((i) => i.format === "oci-layout");
    expect(ociImage, JSON.stringify(images)).toMatchObject({ type: "oci", path: "compose/minimal/amd64/oci", digest: manifestDigest });
    expect(ociImage!.size).toBeGreaterThan(50_000_000);
    const qcow2Image = images.find((i) => i.format === "qcow2");
    expect(qcow2Image, JSON.stringify(images)).toMatchObject({ sha256: qcow2.sha256, size: qcow2.size });
    expect(join(result.composeDir, qcow2Image!.path)).toBe(qcow2.path);
    // SHA256SUMS verifies every file it lists, the qcow2 and the OCI blobs among them
    const sums = await readFile(join(composeSub, "SHA256SUMS"), "utf8");
    expect(sums).toContain(`${qcow2.sha256}  minimal/amd64/`);
    expect(sums).toContain(`  minimal/amd64/oci/blobs/sha256/${manifestDigest.slice("sha256:".length)}\n`);
    expect(sums).toContain("  metadata/packages.json\n");
    started = Date.now();
    await run("sha256sum", ["-c", "--quiet", "--strict", "SHA256SUMS"], { cwd: composeSub });
    timings["sha256sum -c"] = Date.now() - started;

    // skopeo reads the layout with the bootc labels; umoci unpacks it to a tree with os-release
    const inspected = JSON.parse((await run("skopeo", ["inspect", `oci:${layout}:13.0`], { debianPackage: "skopeo" })).stdout) as {
      Digest: string;
      Labels: Record<string, string>;
    };
    expect(inspected.Digest).toBe(manifestDigest);
    expect(inspected.Labels).toMatchObject({ "containers.bootc": "1", "ostree.bootable": "1", "org.opencontainers.image.version": "13.0" });
    started = Date.now();
    const bundle = join(work, "umoci-bundle");
    await run("umoci", ["unpack", "--image", `${layout}:13.0`, bundle], { debianPackage: "umoci" });
    timings["umoci unpack"] = Date.now() - started;
    expect(await readFile(join(bundle, "rootfs", "usr", "lib", "os-release"), "utf8")).toMatch(/^ID=debian$/m);
    expect(await readFile(join(bundle, "rootfs", DPKG_SYSIMAGE_DIR, "status"), "utf8")).toBe(
      await readFile(join(tree, DPKG_SYSIMAGE_DIR, "status"), "utf8"),
    );
    await rm(bundle, { recursive: true, force: true });
    first = { dir: result.composeDir, id: result.composeId, commit, disk, tree, manifestDigest };
  });

  it("the same image boots from SATA under SeaBIOS, where a step script that exits 3 fails the boot at once; not with an altered GRUB", {
    timeout: 1_800_000,
  }, async () => {
    expect(first).toBeDefined();
    const image = first!.disk.files[0]!;
    const imageSize = 2 * 1024 ** 3;
    const dir = join(work!, "variations");
    const consoleLog = join(dir, "console.log");
    // (NVMe on a disk twice its size is the update test's first boot)
    // 1. legacy BIOS (SeaBIOS, no UEFI at all) from a SATA disk: GRUB i386-pc from the BIOS boot partition.
    // The same boot runs a step script after the marker (one boot fewer): a command of it exits 3 (sh -e
    // ends the script there), which fails the boot test at once; the time limit is the default one
    const script = 'echo "deb-bootc-test: before the failure"\nsh -c "exit 3"\necho "deb-bootc-test: after the failure"\n';
    let started = Date.now();
    const error = await bootToMarker({
      image: image.path,
      format: "qcow2",
      workDir: join(dir, "bios"),
      consoleLog,
      firmware: "bios",
      bus: "sata",
      expect: { commit: first!.commit.commit },
      script,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    timings["boot sata, seabios, failing step"] = Date.now() - started;
    // it booted: the marker (before the script) names the booted deployment, the first compose's commit
    const results = await readFile(resultsLogPath(consoleLog), "utf8");
    expect(parseMarker(results)?.bootedDeployment?.commit, results.slice(-2000)).toBe(first!.commit.commit);
    const text = await readFile(consoleLog, "utf8");
    expect(text.slice(text.lastIndexOf("(tcg, bios, sata)"))).not.toMatch(SECURE_BOOT_ON);
    // and the step failed: its status and last lines, QEMU stopped at the runner's failure line (not at the
    // time limit, and not by the guest ending)
    expect(isCodedError(error, "BOOT_TEST_FAILED"), String(error)).toBe(true);
    const failure = error as Error & { details?: Record<string, unknown> };
    expect(failure.message).toMatch(/^boot marker: the guest's step script marker failed with exit status 3 \(see .*\); its last lines:\n/);
    expect(failure.message).toContain("deb-bootc-test: before the failure");
    expect(failure.message).not.toContain("after the failure");
    expect(failure.details).toMatchObject({ step: "marker", exitStatus: 3, ended: "matched" });
    expect(results).toContain("deb-bootc-test: step marker failed: exit status 3\n");

    // 2. one byte of the signed GRUB changed on the ESP: shim refuses it, the marker never comes
    const raw = join(dir, "altered.raw");
    await run("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", image.path, raw]);
    const esp = diskPartitions(imageSize, "hybrid").find((p) => p.name === "ESP")!;
    const grub = join(dir, "grubx64.efi");
    const env = { ...process.env, MTOOLS_SKIP_CHECK: "1" };
    await run("mcopy", ["-i", `${raw}@@${esp.offset}`, "::/EFI/BOOT/grubx64.efi", grub], { env });
    const bytes = await readFile(grub);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    await writeFile(grub, bytes);
    await run("mcopy", ["-o", "-i", `${raw}@@${esp.offset}`, grub, "::/EFI/BOOT/grubx64.efi"], { env });
    started = Date.now();
    const refused = await bootRefused({ image: raw, format: "raw", workDir: join(dir, "refused"), consoleLog, firmware: "uefi-secure" });
    timings["boot altered grub, refused"] = Date.now() - started;
    expect(refused.marker).toBe(false);
    expect(refused.refusal, refused.console.slice(-2000)).toBeDefined();
    expect(refused.refused).toBe(true);
    await rm(dir, { recursive: true, force: true });
  });

  it("recomposing the same tree gives no OSTree changes and the same OCI manifest digest", { timeout: 300_000 }, async () => {
    expect(first).toBeDefined();
    const def = await definitionFile(work!);
    const definition = parseDefinition(def.text.replace("outputs: [ostree, oci, qcow2]", "outputs: [ostree, oci]"), def.path);
    const sameTree: Phase = {
      name: "rootfs",
      async run(ctx) {
        ctx.state.set("rootfs", [{ variant: "minimal", arch: "amd64", path: first!.tree }]);
      },
    };
    const result = await runCompose({
      definition,
      definitionPath: def.path,
      outputDir: join(work!, "out"),
      phases: [sameTree, ostreePhase, ociPhase],
    });
    phaseTimes(result.phases, "recompose");
    expect(result.status).toBe("FINISHED");
    const record = JSON.parse(await readFile(join(result.composeDir, "compose", "minimal", "amd64", "ostree-commit.json"), "utf8"));
    expect(record).toMatchObject({ commit: first!.commit.commit, changed: false });
    expect(await readFile(join(result.composeDir, "logs", "ostree.log"), "utf8")).toContain("no changes: the previous commit is reused");
    const index = JSON.parse(await readFile(join(result.composeDir, "compose", "minimal", "amd64", "oci", "index.json"), "utf8")) as {
      manifests: Array<{ digest: string }>;
    };
    expect(index.manifests[0]!.digest).toBe(first!.manifestDigest);
  });

  it("publishes two composes; the first image, from NVMe on a disk twice its size (which it fills), upgrades over HTTP, boots the second, refuses another key, rolls back", {
    timeout: 1_800_000,
  }, async () => {
    expect(first).toBeDefined();
    const def = await definitionFile(work!, ["hello"]);
    const definition = parseDefinition(def.text.replace("outputs: [ostree, oci, qcow2]", "outputs: [ostree]"), def.path);
    let commit: OstreeCommitRecord | undefined;
    let tree: string | undefined;
    const capture: Phase = {
      name: "metadata",
      async run(ctx) {
        commit = ctx.state.get("ostree")[0];
        tree = ctx.state.get("rootfs")[0]!.path;
      },
    };
    const result = await runCompose({
      definition,
      definitionPath: def.path,
      outputDir: join(work!, "out"),
      phases: [createRootfsPhase({ baseDir: work! }), ostreePhase, capture],
    });
    phaseTimes(result.phases, "compose-2");
    expect(result.status).toBe("FINISHED");
    expect(commit).toMatchObject({ changed: true, parent: first!.commit.commit });
    const hello = parseDeb822(await readFile(join(tree!, DPKG_SYSIMAGE_DIR, "status"), "utf8")).find((p) => p.get("Package") === "hello");
    expect(hello?.get("Status")).toBe("install ok installed");

    // publish both composes into the channel's repository, as `deb-bootc-compose publish` does
    const published = join(work!, "published");
    const key = await updateSigningKey(definition, work!);
    let started = Date.now();
    const one = await publishCompose({ composeDir: first!.dir, definition, to: published, key });
    const two = await publishCompose({ composeDir: result.composeDir, definition, to: published, key });
    timings["publish compose 2 (pull, sign, delta, summary)"] = Date.now() - started;
    const ref = channelRef(definition, "minimal", "amd64")!;
    expect(one).toMatchObject([{ ref, commit: first!.commit.commit, changed: true }]);
    expect(two).toMatchObject([
      { ref, commit: commit!.commit, previous: first!.commit.commit, delta: `${first!.commit.commit}-${commit!.commit}` },
    ]);

    // a third commit on the channel (the second's tree), signed by a key the machines do not trust
    const repo2 = join(result.composeDir, "compose", "ostree", "repo");
    await rangeWritableDirectory(repo2);
    const third = parseKeyValues(
      await runrootScript(
        'echo "third=$(ostree commit --repo=/repo --branch=third --bind-ref="$2" --tree=ref="$1" --parent="$1" -s third)"',
        [commit!.commit, ref],
        { binds: [{ source: repo2, target: "/repo" }] },
      ),
    ).third;
    await handBackToCaller(repo2);
    expect(third).toMatch(/^[0-9a-f]{64}$/);
    const otherKey = { path: "(test)", ...(await generateOpenPgpKey({ name: "not the channel", email: "x@deb-bootc-compose.invalid" })) };

    // the first boot is also the image's on another bus and a bigger disk: Secure Boot on, NVMe, written to a
    // disk twice its size, where systemd-repart and growfs fill it (it then upgrades as on any disk)
    const imageSize = 2 * 1024 ** 3;
    started = Date.now();
    const update = await httpUpdateTest({
      image: first!.disk.files[0]!.path,
      format: "qcow2",
      bus: "nvme",
      diskSize: 2 * imageSize,
      inspect: true,
      workDir: join(work!, "update-test"),
      consoleLog: join(work!, "update-test.console.log"),
      publishedRepo: published,
      remote: "debian-bootc-minimal",
      from: { commit: first!.commit.commit },
      to: { commit: commit!.commit, composeId: result.composeId },
      packageName: "hello",
      expectRefusal: true,
      beforeUpdatedBoot: async () => {
        const wrong = await publishCommit({ repo: published, sourceRepo: repo2, commit: third!, ref, key: otherKey });
        expect(wrong).toMatchObject({ commit: third, previous: commit!.commit });
      },
    });
    timings["update test (3 boots)"] = Date.now() - started;
    for (const s of update.steps) timings[`update ${s.name} boot`] = s.durationMs;
    expect(update.steps.map((s) => [s.name, s.marker?.commit])).toEqual([
      ["upgrade", first!.commit.commit],
      ["updated", commit!.commit],
      ["rolled-back", first!.commit.commit],
    ]);
    expect(update.steps[1]!.marker!.composeId).toBe(result.composeId);
    expect(update.steps[1]!.marker!.deployments).toEqual([commit!.commit, first!.commit.commit]);
    // the wrongly signed third commit was never deployed: after the rollback the machine lists the two it had
    expect(update.steps[2]!.marker!.deployments).toEqual([first!.commit.commit, commit!.commit]);
    expect(update.packageVersion).toBe(hello!.get("Version"));
    expect(update.refusal, update.refusal).toMatch(/[Ss]ignature|GPG|gpg/);
    const log = await readFile(update.resultsLog, "utf8");
    // the first boot, from NVMe on the bigger disk, with Secure Boot on (the kernel's line on the console,
    // mokutil's on the port); the root filesystem grew from under 2 GiB to nearly the whole 4 GiB disk
    const upgradeConsole = await readFile(join(work!, "update-test.console.log"), "utf8");
    const consoleOfUpgrade = upgradeConsole.slice(0, upgradeConsole.indexOf("boot updated ("));
    expect(consoleOfUpgrade).toMatch(/boot upgrade \((tcg|kvm), uefi-secure, nvme\)/);
    expect(consoleOfUpgrade).toMatch(SECURE_BOOT_ON);
    const upgradeBoot = log.slice(0, log.indexOf(" boot updated\n"));
    expect(upgradeBoot).toContain(INSPECT_DONE);
    const seen = parseInspection(upgradeBoot);
    expect(seen.sbState).toBe("SecureBoot enabled");
    expect(seen.disk).toEqual({ name: "nvme0n1", size: 2 * imageSize });
    expect(seen.rootFilesystem).toBeGreaterThan(0.9 * 2 * imageSize - 130 * 1024 ** 2);
    // the stage path: the timer is enabled in the image and its service did the upgrade
    expect(log).toContain("deb-bootc-test: timer enabled active");
    expect(log).toContain("deb-bootc-test: step upgrade done");
    expect(log).toContain("deb-bootc-test: step rollback done");
    // what the machine downloaded: the static delta, against the image and a full pull of the commit
    expect(update.served.deltaRequests).toBeGreaterThan(0);
    const du = async (path: string) => Number((await run("du", ["-sb", path])).stdout.split(/\s+/)[0]);
    const image = first!.disk.files[0]!.size;
    const objects = await du(join(repo2, "objects"));
    timings["update bytes served"] = update.served.bytes;
    timings["update bytes per mille of the qcow2"] = Math.round((1000 * update.served.bytes) / image);
    timings["update bytes per mille of the compose repo's objects"] = Math.round((1000 * update.served.bytes) / objects);
    expect(update.served.bytes).toBeLessThan(image);
  });
});
