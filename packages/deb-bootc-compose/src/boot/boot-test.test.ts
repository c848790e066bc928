import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseMarker } from "./boot-test.js";
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
    });
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

describe("qemuArgs", () => {
  const base = {
    disk: "/d.qcow2",
    format: "qcow2" as const,
    firmware: { code: "/fw/CODE.fd", vars: "/fw/VARS.fd" },
    varsCopy: "/w/VARS.fd",
  };

  it("uses TCG with -cpu max (never -cpu host) when KVM is not usable", () => {
    const args = qemuArgs({ ...base, accel: "tcg" });
    expect(args.join(" ")).toContain("-accel tcg,thread=multi -cpu max");
    expect(args).not.toContain("host");
    expect(args).toContain("-no-reboot");
    expect(args).toContain("if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd");
    expect(args).toContain("if=pflash,format=raw,unit=1,file=/w/VARS.fd");
  });

  it("passes credentials base64-encoded through SMBIOS type 11 and extra disks after the system disk", () => {
    const args = qemuArgs({
      ...base,
      accel: "kvm",
      credentials: { "a.b": "x,y\n" },
      extraDisks: [{ path: "/u.img", format: "raw", readOnly: true }],
    });
    expect(args).toContain(`type=11,value=io.systemd.credential.binary:a.b=${Buffer.from("x,y\n").toString("base64")}`);
    const drives = args.filter((_, i) => args[i - 1] === "-drive");
    expect(drives.slice(-2)).toEqual(["file=/d.qcow2,if=virtio,format=qcow2,cache=unsafe", "file=/u.img,if=virtio,format=raw,readonly=on"]);
    expect(args.join(" ")).toContain("-accel kvm -cpu host");
  });
});
