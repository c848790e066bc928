/**
 * System tier: a boot test's step script that fails fails its unit and ends the boot test at once, with
 * the step's name, its exit status and its last lines, instead of waiting out the time limit; a step that
 * passes still passes. The shipped minimal definition (its minimal variant, outputs ostree and qcow2)
 * composed up to image-build with the machine's compose cache (its root tree is reused when the cache has
 * it), then two boots under plain OVMF. Needs root, mmdebstrap, bubblewrap, qemu-system-x86, qemu-utils,
 * ovmf, gdisk, mtools; about 5 minutes under TCG on 2 cores with the root tree cached.
 */
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { afterAll, describe, expect, it } from "vitest";
import { OrchestratorConnection } from "../build/orchestrator-connection.js";
import { runCompose } from "../compose/phase-engine.js";
import { composePhases } from "../compose/registry.js";
import { capturingState } from "../compose/state-capture.js";
import { parseDefinition } from "../definition.js";
import { minimalVariantDefinition } from "../image-task/__fixtures__/minimal-compose.js";
import { bootToMarker, INSPECT_DONE, INSPECT_SCRIPT, resultsLogPath } from "./boot-test.js";

const tools = [
  "/usr/bin/mmdebstrap",
  "/usr/bin/bwrap",
  "/usr/bin/qemu-system-x86_64",
  "/usr/bin/qemu-img",
  "/usr/sbin/sgdisk",
  "/usr/bin/mcopy",
];
// a developer without root or QEMU skips; CI never does, so a missing tool fails there loudly
const ready = Boolean(process.env.CI) || (process.getuid?.() === 0 && tools.every((t) => existsSync(t)) && existsSync("/usr/share/OVMF"));
let work: string | undefined;

describe.skipIf(!ready)("a boot test's step script", () => {
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("that exits 3 fails the boot test at once with the step, the status and its last lines; one that passes passes", {
    timeout: 1_800_000,
  }, async () => {
    work = await mkdtemp(join(tmpdir(), "boot-step-"));
    // the compose's sandbox root (an unprivileged id of the range) must be able to enter it
    await chmod(work, 0o755);
    const text = await minimalVariantDefinition("[ostree, qcow2]\ndisk:\n  size: 2G");
    const path = join(work, "minimal.yaml");
    await writeFile(path, text);
    const orchestrator = new OrchestratorConnection();
    const composed = capturingState(composePhases({ baseDir: work, orchestrator }));
    const result = await runCompose({
      definition: parseDefinition(text, path),
      definitionPath: path,
      outputDir: join(work, "out"),
      phases: composed.phases,
      justPhases: ["pkgset", "gather", "snapshot-repo", "rootfs", "ostree", "image-build"],
    }).finally(() => orchestrator.close());
    expect(result.status, JSON.stringify(result.phases.filter((p) => p.outcome !== "done"))).toBe("FINISHED");
    const image = composed.state().get("disk-images")[0]!.files[0]!;
    expect(image.format).toBe("qcow2");
    const consoleLog = join(work, "console.log");
    const boot = { image: image.path, format: "qcow2" as const, consoleLog, firmware: "uefi" as const };

    // a command of the script exits 3 (sh -e ends the script there); the time limit is the default one
    const failing = 'echo "deb-bootc-test: before the failure"\nsh -c "exit 3"\necho "deb-bootc-test: after the failure"\n';
    const error = await bootToMarker({ ...boot, workDir: join(work, "failing"), script: failing }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCodedError(error, "BOOT_TEST_FAILED"), String(error)).toBe(true);
    const failure = error as Error & { details?: Record<string, unknown> };
    expect(failure.message).toMatch(/^boot marker: the guest's step script marker failed with exit status 3 \(see .*\); its last lines:\n/);
    expect(failure.message).toContain("deb-bootc-test: before the failure");
    expect(failure.message).not.toContain("after the failure");
    // QEMU was stopped at the runner's failure line: not at the time limit, and not by the guest ending
    expect(failure.details).toMatchObject({ step: "marker", exitStatus: 3, ended: "matched" });
    const port = await readFile(resultsLogPath(consoleLog), "utf8");
    expect(port).toContain("deb-bootc-test: step marker failed: exit status 3\n");

    // a step that passes (the inspection, then power off) still passes
    const passing = await bootToMarker({ ...boot, workDir: join(work, "passing"), script: INSPECT_SCRIPT });
    expect(passing.passed).toBe(true);
    expect(passing.steps[0]!.marker?.bootedDeployment).toBeDefined();
    expect(passing.steps[0]!.ended).toBe("exited");
    const after = (await readFile(resultsLogPath(consoleLog), "utf8")).slice(port.length);
    expect(after).toContain(INSPECT_DONE);
    expect(after).not.toContain("failed: exit status");
  });
});
