import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { CommandSpec } from "@debian-bootc/core";
import { type BootTestResult, bootToMarker, httpUpdateTest } from "../boot/boot-test.js";
import type { Accelerator, BootFirmware, DiskBus } from "../boot/qemu.js";
import { composeError } from "../errors.js";

export const bootTestCommand: CommandSpec = {
  name: "boot-test",
  summary: "Boot a disk image under QEMU/UEFI and check the compose's marker (optionally an update over HTTP)",
  description:
    "Boots a qcow2 overlay of IMAGE (the image itself is not written) with OVMF and Secure Boot enforced (Microsoft's keys), " +
    "plain OVMF or SeaBIOS (--firmware), from a virtio, NVMe or SATA disk (--bus), the serial console captured to --console, " +
    "under KVM when a usable one exists (kvm_intel/kvm_amd with vmx/svm), otherwise TCG. Passes when the image's marker unit " +
    "prints the booted compose and `ostree admin status` shows a booted deployment. With --published, runs the update test instead: " +
    "that published repository is served on loopback as the guest's only network (QEMU user networking, restrict=on, guestfwd), " +
    "the guest runs `ostree admin upgrade` (its remote keeps gpg-verify and its key), reboots into --to-commit, rolls back and boots " +
    "--from-commit again.",
  args: [{ name: "image", description: "a disk image (.qcow2 or .raw) made by the image-build phase" }],
  options: [
    { flags: "--console <file>", description: "serial console capture (default: a temporary file, kept on failure)" },
    { flags: "--accel <accel>", description: "force an accelerator", choices: ["kvm", "tcg"] },
    {
      flags: "--firmware <firmware>",
      description: "uefi-secure: OVMF with Microsoft's keys, Secure Boot on (default); uefi: OVMF; bios: SeaBIOS",
      choices: ["uefi-secure", "uefi", "bios"],
    },
    { flags: "--bus <bus>", description: "the system disk's bus (default virtio)", choices: ["virtio", "nvme", "sata"] },
    { flags: "--timeout <seconds>", description: "time limit per boot (default 600 under TCG, 120 under KVM)" },
    { flags: "--expect-compose <id>", description: "fail unless the booted commit carries this compose ID" },
    { flags: "--expect-commit <checksum>", description: "fail unless this commit is booted" },
    { flags: "--published <dir>", description: "update test: the published repository (deb-bootc-compose publish) holding the update" },
    { flags: "--remote <name>", description: "update test: the image's update remote (the definition's updates.remote or name)" },
    { flags: "--from-commit <checksum>", description: "update test: the commit the image boots first" },
    { flags: "--to-commit <checksum>", description: "update test: the commit the upgrade must boot" },
  ],
  examples: [
    "deb-bootc-compose boot-test /srv/composes/latest-debian-bootc-minimal/compose/minimal/amd64/images/debian-bootc-minimal-minimal-amd64-13.0.qcow2",
    "deb-bootc-compose boot-test old.qcow2 --published /srv/ostree --remote debian-bootc-minimal --from-commit 80f9... --to-commit 4b3d...",
  ],
  async run(ctx) {
    const image = resolve(ctx.args[0]!);
    const o = ctx.options as Record<string, string | undefined>;
    const format = image.endsWith(".raw") || image.endsWith(".img") ? "raw" : "qcow2";
    const work = await mkdtemp(join(tmpdir(), "boot-test-"));
    const consoleLog = o.console ? resolve(o.console) : join(tmpdir(), `boot-test-${process.pid}.console.log`);
    const common = {
      image,
      format: format as "raw" | "qcow2",
      workDir: work,
      consoleLog,
      accel: o.accel as Accelerator | undefined,
      firmware: o.firmware as BootFirmware | undefined,
      bus: o.bus as DiskBus | undefined,
      timeoutMs: o.timeout ? Number(o.timeout) * 1000 : undefined,
      signal: ctx.signal,
    };
    try {
      let result: BootTestResult;
      if (o.published) {
        if (!o.fromCommit || !o.toCommit || !o.remote)
          throw composeError("BOOT_TEST_FAILED", "--published needs --remote, --from-commit and --to-commit");
        result = await httpUpdateTest({
          ...common,
          publishedRepo: resolve(o.published),
          remote: o.remote,
          from: { commit: o.fromCommit },
          to: { commit: o.toCommit, composeId: o.expectCompose },
        });
      } else {
        result = await bootToMarker({ ...common, expect: { composeId: o.expectCompose, commit: o.expectCommit } });
      }
      if (ctx.json) ctx.out.json(result);
      else {
        ctx.out.line(`accelerator: ${result.accel} (${result.accelReason})`);
        for (const s of result.steps) {
          const m = s.marker;
          ctx.out.line(
            `boot ${s.name}: ${m ? `compose ${m.composeId}, commit ${m.commit.slice(0, 12)}` : "no marker"}; marker after ${Math.round((s.timeToMarkerMs ?? 0) / 1000)} s`,
          );
        }
        ctx.out.line(`passed: ${result.message}; console: ${consoleLog}; results port: ${result.resultsLog}`);
      }
      return 0;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
};
