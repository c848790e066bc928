import { spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MARKER_OS_PREFIX, MARKER_STATUS_END, MARKER_UNIT, REPORT_SCRIPT, RESULTS_PORT } from "../rootfs/customize.js";
import {
  INSPECT_DONE,
  INSPECT_SCRIPT,
  parseInspection,
  parseMarker,
  parseStepFailure,
  REFUSAL_RE,
  resultsLogPath,
  stepCredentials,
  stepRunner,
  upgradeScript,
} from "./boot-test.js";
import { qemuArgs } from "./qemu.js";

const fixture = join(import.meta.dirname, "__fixtures__", "console-marker.txt");
const C1 = "80f9f650be177c997aafb967207614b2292a03959fdf907a8d385fff775a1554";
const C2 = "4b3d6c6d77ab1d93eb6424004eaec76d7e6777aebed545158e41495f6a516180";

describe("parseMarker", () => {
  it("reads the compose, commit and booted deployment from a real TCG boot's console", async () => {
    const m = parseMarker(await readFile(fixture, "utf8"));
    expect(m).toEqual({
      composeId: "id-1",
      version: "13.0",
      commit: C1,
      bootedDeployment: { os: "debian-bootc-minimal", commit: C1 },
      deployments: [C1],
      // that image's marker predates the listing's end line
      complete: false,
    });
  });

  it("says the listing is whole only at its end line, so a boot is not cut off between the booted and the rollback deployment", () => {
    // the lines as the results port carries them: the marker's output, unprefixed
    const head = [
      `deb-bootc-compose: booted compose=c-1 version=13.0 commit=${C1}`,
      `${MARKER_OS_PREFIX}Debian GNU/Linux 13 (trixie), bootc image`,
      `deb-bootc-compose: status: * os ${C1}.1`,
    ];
    const cut = parseMarker(head.join("\n"));
    expect(cut).toMatchObject({ bootedDeployment: { commit: C1 }, deployments: [C1], complete: false });
    const whole = [
      ...head,
      `deb-bootc-compose: status:   os ${C2}.0 (rollback)`,
      MARKER_STATUS_END,
      `deb-bootc-test: deb-bootc-compose: status:   os ${C1}.9`,
    ].join("\n");
    expect(parseMarker(whole)).toEqual({
      composeId: "c-1",
      version: "13.0",
      commit: C1,
      bootedDeployment: { os: "os", commit: C1 },
      deployments: [C1, C2],
      complete: true,
      prettyName: "Debian GNU/Linux 13 (trixie), bootc image",
    });
  });

  it("takes only the whole end line as the end, not a status line that holds its words or a line that lost its head", () => {
    const text = [
      `deb-bootc-compose: booted compose=c-1 version=13.0 commit=${C1}`,
      `deb-bootc-compose: status: * os ${C1}.1`,
      "deb-bootc-compose: status:     GPG: Signature made using RSA key ID CE701A2AD: status ended here",
      "key ID CE701A2AD: status end",
    ].join("\n");
    expect(parseMarker(text)).toMatchObject({ deployments: [C1], complete: false });
    expect(parseMarker(`${text}\n${MARKER_STATUS_END}\n`)).toMatchObject({ deployments: [C1], complete: true });
  });

  it("lists the rollback deployment after the booted one and ignores later repetitions", () => {
    const text = [
      `[ 50.1] boot-marker[1]: deb-bootc-compose: booted compose=c-2 version=13.0 commit=${C2}\r`,
      `[ 50.2] boot-marker[2]: deb-bootc-compose: status: * os ${C2}.0\r`,
      `[ 50.3] boot-marker[2]: deb-bootc-compose: status:   os ${C1}.0 (rollback)\r`,
      `[ 60.0] sh[3]: deb-bootc-compose: status: * os ${C2}.0`,
    ].join("\n");
    expect(parseMarker(text)).toMatchObject({ composeId: "c-2", commit: C2, bootedDeployment: { commit: C2 }, deployments: [C2, C1] });
  });

  it("reads the commit when a kernel message lands on the marker's line right after it", () => {
    const text = `[ 41.0] boot-marker[1]: deb-bootc-compose: booted compose=c-1 version=13.0 commit=${C1}[   41.2] random: crng init done\n`;
    expect(parseMarker(text)).toMatchObject({ composeId: "c-1", version: "13.0", commit: C1 });
  });

  it("finds nothing on a console without the marker", () => {
    expect(parseMarker("Welcome to Debian GNU/Linux 13 (trixie)!\nlogin: ")).toBeUndefined();
  });
});

describe("a boot's step script in the guest", () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /**
   * The runner run by this machine's sh, as the guest's unit runs it: the credentials in a directory of
   * their own, the image's report script (a copy of its standard input into a file) and /run moved into
   * a scratch directory.
   */
  async function runStep(name: string, script: string): Promise<{ status: number | null; port: string; files: Record<string, string> }> {
    dir ??= await mkdtemp(join(tmpdir(), "boot-step-"));
    const root = await mkdtemp(join(dir, "run-"));
    const credentials = join(root, "credentials");
    await mkdir(credentials);
    const files = stepCredentials(name, script);
    for (const [file, content] of Object.entries(files)) await writeFile(join(credentials, file), content);
    const report = join(root, "report");
    await writeFile(report, `#!/bin/sh\nexec tee -a ${join(root, "port")}\n`);
    await chmod(report, 0o755);
    const runner = stepRunner(name).replaceAll(`/${REPORT_SCRIPT}`, report).replaceAll("/run/", `${root}/run/`);
    expect(runner.replaceAll(`${root}/run/`, "")).not.toContain("/run/");
    const child = spawnSync("/bin/sh", ["-c", runner], { env: { PATH: process.env.PATH, CREDENTIALS_DIRECTORY: credentials } });
    return { status: child.status, port: await readFile(join(root, "port"), "utf8"), files };
  }

  it("fails with the script's exit status, not the report script's, after a line that names the step", async () => {
    const failed = await runStep("upgrade", 'echo "deb-bootc-test: before"\nsh -c "exit 3"\necho "deb-bootc-test: after"\n');
    expect(failed.status).toBe(3);
    expect(failed.port).toBe("deb-bootc-test: before\ndeb-bootc-test: step upgrade failed: exit status 3\n");
    // -u: an unset variable fails the script too
    expect((await runStep("marker", 'echo "$UNSET_IN_THE_GUEST"\n')).status).not.toBe(0);
    const passed = await runStep("marker", "echo fine\n");
    expect(passed).toMatchObject({ status: 0, port: "fine\n" });
  });

  it("is the marker unit's ExecStartPost, loaded with the script from the credentials", async () => {
    const { files } = await runStep("marker", "true\n");
    const dropin = files[`systemd.unit-dropin.${MARKER_UNIT}`]!;
    expect(dropin.split("\n")).toEqual([
      "[Service]",
      "LoadCredential=deb-bootc-compose.boot-test-script",
      "LoadCredential=deb-bootc-compose.boot-test-runner",
      `ExecStartPost=/bin/sh \${CREDENTIALS_DIRECTORY}/deb-bootc-compose.boot-test-runner`,
      "TimeoutStartSec=15min",
      "",
    ]);
    expect(files["deb-bootc-compose.boot-test-script"]).toBe("true\n");
    // the name goes into the guest's shell text: a boot's own name only
    expect(() => stepRunner("x; reboot")).toThrow(/not a boot step name/);
  });

  it("reads a failure's step, status and the script's last lines (not the marker's) from the results port", () => {
    const results = [
      "deb-bootc-compose: booted compose=c-1 version=13.0 commit=" + C1,
      `deb-bootc-compose: status: * os ${C1}.0`,
      MARKER_STATUS_END,
      ...Array.from({ length: 12 }, (_, i) => `deb-bootc-test: line ${i + 1}`),
      "",
      "deb-bootc-test: deb-bootc-test: step updated failed: exit status 9",
      "deb-bootc-test: step updated failed: exit status 4\r",
    ].join("\n");
    expect(parseStepFailure(results)).toEqual({
      step: "updated",
      status: 4,
      lastLines: [
        ...Array.from({ length: 9 }, (_, i) => `deb-bootc-test: line ${i + 4}`),
        "deb-bootc-test: deb-bootc-test: step updated failed: exit status 9",
      ],
    });
    const short = [`deb-bootc-compose: status: * os ${C1}.0`, MARKER_STATUS_END, "deb-bootc-test: step marker failed: exit status 1"].join(
      "\n",
    );
    expect(parseStepFailure(short)).toEqual({ step: "marker", status: 1, lastLines: [] });
    // what the guest printed is plain text in the failure, and a long line is cut
    const noisy = [
      MARKER_STATUS_END,
      `deb-bootc-test: \x1b]0;title\x07ok\x1b[2J`,
      `deb-bootc-test: ${"y".repeat(300)}`,
      "deb-bootc-test: step marker failed: exit status 1",
    ];
    expect(parseStepFailure(noisy.join("\n"))?.lastLines).toEqual(["deb-bootc-test: ok", `deb-bootc-test: ${"y".repeat(144)}...`]);
    expect(parseStepFailure(`${MARKER_STATUS_END}\ndeb-bootc-test: step failed: ostree admin upgrade (exit 1)\n`)).toBeUndefined();
  });
});

describe("parseInspection and REFUSAL_RE", () => {
  it("reads Secure Boot's state and the disk's and root filesystem's sizes", () => {
    const text = [
      "[  60.1] sh[9]: deb-bootc-test: sb-state: SecureBoot enabled\r",
      "[  60.2] sh[9]: deb-bootc-test: disk nvme0n1 4294967296\r",
      "[  60.3] sh[9]: deb-bootc-test: root-filesystem 4077912064\r",
    ].join("\n");
    expect(parseInspection(text)).toEqual({
      sbState: "SecureBoot enabled",
      disk: { name: "nvme0n1", size: 4294967296 },
      rootFilesystem: 4077912064,
    });
    expect(parseInspection("nothing")).toEqual({});
  });

  it("inspects before the upgrade in one boot when asked: the upgrade still runs and reboots, nothing powers off", () => {
    const both = upgradeScript("debian-bootc-minimal", { inspect: true });
    const inspected = both.indexOf(INSPECT_DONE);
    expect(inspected).toBeGreaterThan(both.indexOf("mokutil --sb-state"));
    expect(both.indexOf("step upgrade started")).toBeGreaterThan(inspected);
    expect(both).toContain("systemctl reboot --no-block");
    expect(both).not.toContain("poweroff");
    expect(upgradeScript("debian-bootc-minimal")).not.toContain(INSPECT_DONE);
    expect(INSPECT_SCRIPT).toContain(`${INSPECT_DONE}"\nsystemctl poweroff --no-block`);
  });

  it("recognises shim's and the firmware's refusals", () => {
    expect(REFUSAL_RE.exec("Verification failed: (0x1A) Security Violation\r\nFailed to load image")?.[0]).toBe("Verification failed");
    expect(REFUSAL_RE.test('BdsDxe: failed to load Boot0001 "UEFI Misc Device": Access Denied')).toBe(true);
    expect(REFUSAL_RE.test("error: bad shim signature.")).toBe(true);
    expect(REFUSAL_RE.test("Welcome to GRUB!")).toBe(false);
  });
});

describe("qemuArgs", () => {
  const base = {
    disk: "/d.qcow2",
    format: "qcow2" as const,
    firmware: { code: "/fw/CODE.fd", vars: "/fw/VARS.fd" },
    varsCopy: "/w/VARS.fd",
  };

  it("uses TCG with -cpu max (never -cpu host) when KVM is not usable", () => {
    const args = qemuArgs({ ...base, accel: "tcg" });
    expect(args.join(" ")).toContain("-accel tcg,thread=single -cpu max");
    expect(args).not.toContain("host");
    expect(args).toContain("-no-reboot");
    expect(args).toContain("if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd");
    expect(args).toContain("if=pflash,format=raw,unit=1,file=/w/VARS.fd");
  });

  it("gives Secure Boot firmware SMM and a secure flash, and plain OVMF neither", () => {
    const secure = qemuArgs({ ...base, firmware: { ...base.firmware, secureBoot: true }, accel: "tcg" }).join(" ");
    expect(secure).toContain("-machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on");
    const plain = qemuArgs({ ...base, accel: "tcg" }).join(" ");
    expect(plain).toContain("-machine q35 ");
    expect(plain).not.toContain("smm=on");
    expect(plain).not.toContain("secure");
  });

  it("boots SeaBIOS without pflash, and puts the system disk on NVMe or SATA when asked", () => {
    const bios = qemuArgs({ disk: "/d.qcow2", format: "qcow2", accel: "tcg" });
    expect(bios.join(" ")).not.toContain("pflash");
    const nvme = qemuArgs({ disk: "/d.qcow2", format: "qcow2", accel: "tcg", bus: "nvme" }).join(" ");
    expect(nvme).toContain("-drive file=/d.qcow2,if=none,id=system,format=qcow2,cache=unsafe -device nvme,drive=system,serial=dbc-system");
    const sata = qemuArgs({ disk: "/d.qcow2", format: "qcow2", accel: "tcg", bus: "sata" }).join(" ");
    expect(sata).toContain("-device ahci,id=sata -device ide-hd,drive=system,bus=sata.0");
    expect(sata).not.toContain("if=virtio");
  });

  it("passes credentials base64-encoded through SMBIOS type 11", () => {
    const args = qemuArgs({ ...base, accel: "kvm", credentials: { "a.b": "x,y\n" } });
    expect(args).toContain(`type=11,value=io.systemd.credential.binary:a.b=${Buffer.from("x,y\n").toString("base64")}`);
    expect(args.filter((_, i) => args[i - 1] === "-drive").at(-1)).toBe("file=/d.qcow2,if=virtio,format=qcow2,cache=unsafe");
    expect(args.join(" ")).toContain("-accel kvm -cpu host");
  });

  it("gives the guest the results port, a virtio-serial port written into a file, only when asked", () => {
    expect(qemuArgs({ ...base, accel: "tcg" }).join(" ")).not.toContain("virtio-serial");
    const args = qemuArgs({ ...base, accel: "tcg", resultsFile: "/w/a,b/results.txt" }).join(" ");
    // a comma in the path is doubled (QEMU's option syntax), so the path cannot add options of its own
    expect(args).toContain(
      `-device virtio-serial-pci,id=results-bus -chardev file,id=results,path=/w/a,,b/results.txt -device virtserialport,bus=results-bus.0,chardev=results,name=${RESULTS_PORT}`,
    );
    expect(resultsLogPath("/c/logs/boot-minimal-amd64.log")).toBe("/c/logs/boot-minimal-amd64.results.log");
  });

  it("has no network unless one server is forwarded, and then a restricted one that reaches only loopback's port", () => {
    expect(qemuArgs({ ...base, accel: "tcg" }).join(" ")).toContain("-nic none");
    const args = qemuArgs({ ...base, accel: "tcg", forward: { guest: "10.0.2.100:80", hostPort: 4321 } });
    const nic = args[args.indexOf("-nic") + 1];
    expect(nic).toBe("user,model=virtio-net-pci,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:socat STDIO TCP:127.0.0.1:4321");
    expect(() => qemuArgs({ ...base, accel: "tcg", forward: { guest: "10.0.2.100:80,hostfwd=tcp::22-:22", hostPort: 1 } })).toThrow(
      /not a guest address/,
    );
  });
});
