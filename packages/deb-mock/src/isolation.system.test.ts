import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "./build.js";
import { idRange } from "./id-range.js";
import { init } from "./init.js";
import { runInEnvironment } from "./run-in-environment.js";

// System tier: what a hostile source package tries, inside real deb-mock environments. Needs root, the
// mirror, bubblewrap and uidmap. See docs/deb-mock.md, "Isolation".

const fixtures = join(import.meta.dirname, "__fixtures__", "packages");
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "deb-mock-isolation-"));
  await init({});
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Run a shell script as the environment's root; its stdout. */
async function asEnvironmentRoot(script: string, ...args: string[]): Promise<string> {
  const { results } = await runInEnvironment({ commands: [["sh", "-c", script, "probe", ...args]] });
  return results[0]!.stdout;
}

describe("package fields are data", () => {
  it("refuses a .dsc whose Build-Depends is an apt option, naming the field; no hook runs", async () => {
    const tree = join(work, "option-injection");
    await cp(join(fixtures, "option-injection"), tree, { recursive: true });
    await run("dpkg-source", ["--build", "option-injection"], { cwd: work });
    const dsc = join(work, "option-injection_1.0.dsc");
    const text = await readFile(dsc, "utf8");
    // on the old code this reached `apt-get satisfy` as an option and installed a root hook
    await writeFile(dsc, text.replace(/^Build-Depends: .*$/m, "Build-Depends: -oDPkg::Pre-Invoke::=touch /build/owned"));
    const { result, resultDir } = await build({ source: dsc, resultDir: join(work, "result") });
    expect(result.status).toBe("input-failed");
    expect(result.error?.code).toBe("DSC_FIELD_INVALID");
    expect(result.error?.message).toContain("Build-Depends");
    const rootLog = await readFile(join(resultDir, "root.log"), "utf8");
    expect(rootLog).not.toMatch(/apt-get .*satisfy/);
    expect(await readdir(resultDir)).not.toContain("owned");
  });
});

describe("inside an environment, its root", () => {
  it("cannot make a block device, mount a tmpfs that honours devices, remount /sys read-write or open the host's disk", async () => {
    // the host's root file system device, by its name in /dev (what a build would try to open)
    const { stdout } = await run("findmnt", ["--noheadings", "--output", "SOURCE", "--target", "/"]);
    const disk = stdout.trim().replace(/\[.*$/, "");
    expect(disk).toMatch(/^\/dev\//);
    const out = await asEnvironmentRoot(
      [
        'mknod /tmp/disk b 8 0 2>/dev/null && echo "mknod: ok" || echo "mknod: refused"',
        'mkdir -p /tmp/m && mount -t tmpfs -o dev none /tmp/m 2>/dev/null && echo "tmpfs-dev: ok" || echo "tmpfs-dev: refused"',
        'unshare -Urm mount -t tmpfs -o dev none /tmp/m 2>/dev/null && echo "nested-tmpfs-dev: ok" || echo "nested-tmpfs-dev: refused"',
        'mount -o remount,bind,rw /sys 2>/dev/null && echo "sys-rw: ok" || echo "sys-rw: refused"',
        'touch /sys/deb-mock-probe 2>/dev/null && echo "sys-write: ok" || echo "sys-write: refused"',
        'head -c 1 "$1" >/dev/null 2>&1 && echo "disk: ok" || echo "disk: refused"',
        // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING): kernel keyrings are not namespaced
        'perl -e \'my $r = syscall(250, 0, -3, 0); print $r < 0 ? "keyctl: refused\\n" : "keyctl: ok\\n"\'',
      ].join("\n"),
      disk,
    );
    expect(out.trim().split("\n")).toEqual([
      "mknod: refused",
      "tmpfs-dev: refused",
      "nested-tmpfs-dev: refused",
      "sys-rw: refused",
      "sys-write: refused",
      "disk: refused",
      "keyctl: refused",
    ]);
  });

  it("holds no capability on the host: it is an unprivileged uid of the subordinate range in a user namespace of its own", async () => {
    const marker = `deb-mock-cap-probe-${process.pid}`;
    const running = runInEnvironment({ commands: [["perl", "-e", "$0 = shift; sleep 30", marker]] }).catch(() => undefined);
    let pid: string | undefined;
    for (let i = 0; i < 200 && !pid; i++) {
      for (const entry of await readdir("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
        if (cmdline.startsWith(marker)) pid = entry;
      }
      if (!pid) await new Promise((r) => setTimeout(r, 100));
    }
    expect(pid).toBeDefined();
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const uidMap = await readFile(`/proc/${pid}/uid_map`, "utf8");
    const ns = await run("readlink", [`/proc/${pid}/ns/user`]);
    const ours = await run("readlink", ["/proc/self/ns/user"]);
    await run("kill", [pid!]);
    await running;
    const range = await idRange();
    // seen from the host, the environment's root is the first id of the range, not 0
    const uids = /^Uid:\s+(.*)$/m.exec(status)![1]!.split(/\s+/).map(Number);
    expect(uids).toEqual([range.uid.start, range.uid.start, range.uid.start, range.uid.start]);
    expect(uidMap.trim().split(/\s+/).map(Number)).toEqual([0, range.uid.start, 65536]);
    // its capabilities belong to its own user namespace (which owns nothing of the host's) ...
    expect(ns.stdout.trim()).not.toBe(ours.stdout.trim());
    // ... and even there it lacks CAP_SYS_ADMIN (21) and CAP_MKNOD (27)
    const capEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(status)![1]}`);
    expect(capEff & (1n << 21n)).toBe(0n);
    expect(capEff & (1n << 27n)).toBe(0n);
  });
});

describe("an ordinary user with a subordinate range", () => {
  // useradd gives a new user /etc/subuid and /etc/subgid ranges (SUB_UID_COUNT in login.defs)
  const user = "deb-mock-tester";

  it("builds, with a cache and bases of its own, and the results belong to it", async () => {
    const known = await run("id", ["-u", user], { okCodes: [1] });
    if (known.code !== 0) await run("useradd", ["--create-home", "--shell", "/bin/sh", user]);
    const uid = Number((await run("id", ["-u", user])).stdout.trim());
    const gid = Number((await run("id", ["-g", user])).stdout.trim());
    expect((await readFile("/etc/subuid", "utf8")).split("\n").some((l) => l.startsWith(`${user}:`))).toBe(true);
    const dir = await mkdtemp(join(tmpdir(), "deb-mock-user-"));
    await cp(join(fixtures, "tiny-ok"), join(dir, "tiny-ok"), { recursive: true });
    await run("chown", ["-R", `${uid}:${gid}`, dir]);
    const cli = join(import.meta.dirname, "cli.ts");
    const home = (await run("sh", ["-c", 'getent passwd "$1" | cut -d: -f6', "sh", user])).stdout.trim();
    const built = await run(
      "runuser",
      [
        "-u",
        user,
        "--",
        "env",
        `HOME=${home}`,
        process.execPath,
        "--conditions=source",
        "--import",
        "tsx",
        cli,
        "build",
        join(dir, "tiny-ok"),
        "--resultdir",
        join(dir, "result"),
      ],
      { cwd: join(import.meta.dirname, "..", "..", ".."), okCodes: [1, 2, 3, 4, 5, 70] },
    );
    expect(built.code, built.stdout + built.stderr).toBe(0);
    const result = JSON.parse(await readFile(join(dir, "result", "result.json"), "utf8")) as {
      status: string;
      artifacts: Array<{ name: string }>;
    };
    expect(result.status).toBe("success");
    const deb = result.artifacts.find((a) => a.name.endsWith(".deb"))!.name;
    for (const name of [deb, "result.json", "build.log"]) {
      const info = await stat(join(dir, "result", name));
      expect([info.uid, info.gid]).toEqual([uid, gid]);
    }
    // its bases are in its own cache, owned by its own range (not root's)
    const bases = join(home, ".cache", "deb-mock", "bases");
    const [key] = await readdir(bases);
    const rootfs = await stat(join(bases, key!, "current", "rootfs"));
    const { stdout: subuid } = await run("sh", ["-c", 'grep "^$1:" /etc/subuid | cut -d: -f2', "sh", user]);
    expect(rootfs.uid).toBe(Number(subuid.trim()));
    await rm(dir, { recursive: true, force: true });
  });
});
