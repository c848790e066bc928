import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { debMockAsUser, nodeAsUser, type OrdinaryUser, ordinaryUser } from "./__fixtures__/ordinary-user.js";

// System tier: deb-mock's verbs and the runroot call as an ordinary user with subordinate ranges, as
// `sbuild --chroot-mode=unshare` works (its build: isolation.system.test.ts). Needs root (to make the
// user), the mirror, bubblewrap and uidmap. See docs/deb-mock.md, "Isolation".

let user: OrdinaryUser;
let dir: string;
let snapshots: string;

/** The deb-mock CLI as the user; its stdout, after checking that it exited 0. */
async function asUser(args: readonly string[], input?: string): Promise<string> {
  const out = await debMockAsUser(user, args, input === undefined ? {} : { input });
  expect(out.code, `deb-mock ${args.join(" ")}: ${out.stdout}${out.stderr}`).toBe(0);
  return out.stdout;
}

/** Host uids of the user's range that own something under `path` (as root sees it). */
async function rangeOwned(path: string): Promise<string> {
  const last = user.subuidStart + 65_535;
  const { stdout } = await run("find", [path, "(", "-uid", `+${user.subuidStart - 1}`, "-uid", `-${last + 1}`, ")", "-print"]);
  return stdout.trim();
}

beforeAll(async () => {
  user = await ordinaryUser();
  dir = await mkdtemp(join(tmpdir(), "deb-mock-nonroot-"));
  // a tiny local package, made here (dpkg-deb as the user: its files are the user's)
  const pkg = join(dir, "pkg");
  await mkdir(join(pkg, "DEBIAN"), { recursive: true });
  await mkdir(join(pkg, "usr", "share", "deb-mock-probe"), { recursive: true });
  await writeFile(
    join(pkg, "DEBIAN", "control"),
    "Package: deb-mock-probe\nVersion: 1.0\nArchitecture: all\nMaintainer: deb-mock <deb-mock@localhost>\nDescription: probe\n",
  );
  await writeFile(join(pkg, "usr", "share", "deb-mock-probe", "marker"), "local deb installed\n");
  await run("chown", ["-R", `${user.uid}:${user.gid}`, dir]);
  await run("runuser", ["-u", user.name, "--", "dpkg-deb", "--root-owner-group", "--build", pkg, join(dir, "probe.deb")]);
  snapshots = join(user.home, ".cache", "deb-mock", "snapshots");
  await asUser(["init"]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("deb-mock as an ordinary user", () => {
  it("init: sets up its base and says which of its own ids the environments run as", async () => {
    const out = await asUser(["init"]);
    expect(out).toContain(`environments run as uids ${user.subuidStart}-${user.subuidStart + 65_535}`);
  });

  it("chroot: runs the command inside, as the environment's root mapped to the user's range", async () => {
    const out = await asUser(["chroot", "--", "sh", "-c", "id -u; cat /etc/debian_version; cat /proc/self/uid_map"]);
    const [uid, version, map] = out.trim().split("\n");
    expect(uid).toBe("0");
    // the environment's release (the host's own /etc/debian_version may differ), read through the base
    const bases = join(user.home, ".cache", "deb-mock", "bases");
    const [key] = await readdir(bases);
    expect(version).toBe((await readFile(join(bases, key!, "current", "rootfs", "etc", "debian_version"), "utf8")).trim());
    expect(map!.trim().split(/\s+/).map(Number)).toEqual([0, user.subuidStart, 65_536]);
  });

  it("chroot --package with a local .deb, install into a kept snapshot, shell with a piped stdin, then clean and scrub snapshots and apt-cache", async () => {
    const probe = join(dir, "probe.deb");
    expect(await asUser(["chroot", "--package", probe, "--", "cat", "/usr/share/deb-mock-probe/marker"])).toBe("local deb installed\n");
    const installed = JSON.parse(await asUser(["--json", "install", "hello"])) as { snapshot: string };
    await asUser(["install", "--snapshot", installed.snapshot, probe]);
    expect(await asUser(["chroot", "--snapshot", installed.snapshot, "--", "hello"])).toBe("Hello, world!\n");
    const shell = await asUser(["shell", "--snapshot", installed.snapshot], "id -u; cat /usr/share/deb-mock-probe/marker; exit\n");
    expect(shell.trim().split("\n").slice(-2)).toEqual(["0", "local deb installed"]);
    expect(await readdir(snapshots)).toContain(installed.snapshot);
    // clean removes the kept snapshot (files of the user's range) although the user cannot itself
    const cleaned = JSON.parse(await asUser(["--json", "clean"])) as { removed: string[] };
    expect(cleaned.removed).toContain(installed.snapshot);
    expect(await readdir(snapshots)).toEqual([]);
    await asUser(["install", "hello"]);
    await asUser(["scrub", "snapshots"]);
    expect(await readdir(snapshots)).toEqual([]);
    await asUser(["scrub", "apt-cache"]);
    // only the bases (kept, as scrub all or bases would rebuild them) hold files of the user's range
    const cache = join(user.home, ".cache", "deb-mock");
    for (const entry of await readdir(cache)) if (entry !== "bases") expect(await rangeOwned(join(cache, entry))).toBe("");
  });

  it("runInEnvironment: writes into a bound directory of the user, which the user owns afterwards", async () => {
    // the environment's root reaches the directory through parents others can search
    await run("chmod", ["0711", dir]);
    const out = join(dir, "out");
    await run("runuser", ["-u", user.name, "--", "mkdir", "-m", "0700", out]);
    const ran = await runrootAsUser(
      out,
      "stat -c %u /out; echo made >/out/made; mkdir /out/sub; echo x >/out/sub/f; chown 1000:1000 /out/sub/f",
    );
    expect(ran.code, ran.stdout + ran.stderr).toBe(0);
    // inside, the user's directory is the environment root's
    expect(ran.stdout.trim()).toBe("0");
    expect(await readFile(join(out, "made"), "utf8")).toBe("made\n");
    for (const path of [out, join(out, "made"), join(out, "sub"), join(out, "sub", "f")]) {
      const info = await stat(path);
      expect([path, info.uid, info.gid]).toEqual([path, user.uid, user.gid]);
    }
    // nothing of the range is left, and the user removes the whole tree itself
    expect(await rangeOwned(out)).toBe("");
    await run("runuser", ["-u", user.name, "--", "rm", "-r", out]);
  });

  it("runInEnvironment: a bind below a directory others cannot search is SANDBOX_FAILED naming it", async () => {
    await run("chmod", ["0700", dir]);
    const out = join(dir, "hidden");
    await run("runuser", ["-u", user.name, "--", "mkdir", out]);
    const ran = await runrootAsUser(out, "true");
    expect(ran.code).not.toBe(0);
    expect(ran.stderr).toContain("SANDBOX_FAILED");
    expect(ran.stderr).toContain(`${dir} is not searchable by others`);
  });
});

/** runInEnvironment as the user, with `out` bound on /out, running `script`; stdout is the script's. */
function runrootAsUser(out: string, script: string) {
  const program = `
    import { runInEnvironment } from ${JSON.stringify(join(import.meta.dirname, "run-in-environment.ts"))};
    const { results } = await runInEnvironment({
      binds: [{ source: ${JSON.stringify(out)}, target: "/out" }],
      commands: [["sh", "-c", ${JSON.stringify(script)}]],
    });
    process.stdout.write(results[0].stdout);`;
  return nodeAsUser(user, ["--input-type=module", "--eval", program]);
}
