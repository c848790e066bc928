import { spawnSync } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { IdRange } from "./id-range.js";
import { ROOT_CAPABILITIES, removeStaleSandboxDirs, sandboxArgv, userNamespacePrefix } from "./sandbox.js";

const range: IdRange = {
  uid: { start: 200000, count: 65536 },
  gid: { start: 300000, count: 65536 },
  caller: { uid: 0, gid: 0, name: "root" },
};
const argvOf = (spec: Parameters<typeof sandboxArgv>[0]) => sandboxArgv(spec, range, { seccomp: "/run/filter.bpf", stage: "/run/binds" });

describe("sandboxArgv", () => {
  const overlay = {
    kind: "overlay" as const,
    lower: ["/c/index", "/c/base"],
    upper: "/c/s/upper",
    work: "/c/s/work",
    mountpoint: "/c/s/root",
  };

  it("enters a user namespace mapped to the id range, mounts the overlay as its root, then isolates with bubblewrap", () => {
    const argv = argvOf({ root: overlay, command: ["dpkg-buildpackage"], network: false, user: { uid: 2000, gid: 2000 } });
    const userns = argv.slice(argv.indexOf("unshare"));
    expect(userns.slice(0, userns.indexOf("--") + 1)).toEqual([
      "unshare",
      "--map-users=200000,0,65536",
      "--map-groups=300000,0,65536",
      "--setuid=0",
      "--setgid=0",
      "--mount",
      "--propagation=private",
      "--",
    ]);
    expect(argv).toContain("lowerdir=/c/index:/c/base,upperdir=/c/s/upper,workdir=/c/s/work,userxattr");
    expect(argv).toContain("/run/filter.bpf");
    for (const flag of [
      "--unshare-pid",
      "--unshare-ipc",
      "--unshare-uts",
      "--unshare-net",
      "--die-with-parent",
      "--new-session",
      "--clearenv",
    ]) {
      expect(argv).toContain(flag);
    }
    const bwrap = argv.slice(argv.indexOf("bwrap"));
    expect(bwrap.join(" ")).toContain("--proc /proc --dev /dev --perms 1777 --tmpfs /tmp");
    expect(bwrap.join(" ")).toContain("--ro-bind /sys /sys");
    expect(bwrap.join(" ")).not.toMatch(/--bind \/sys /);
    expect(bwrap.join(" ")).toContain("--cap-drop ALL --cap-add CAP_SETUID --cap-add CAP_SETGID --seccomp 9");

    expect(bwrap.slice(bwrap.indexOf("--") + 1)).toEqual([
      "setpriv",
      "--reuid=2000",
      "--regid=2000",
      "--clear-groups",
      "--",
      "dpkg-buildpackage",
    ]);
  });

  it("gives the environment's root a small capability set, without CAP_SYS_ADMIN or CAP_MKNOD", () => {
    const argv = argvOf({ root: overlay, command: ["apt-get", "install"], network: false });
    const added = argv.flatMap((a, i) => (a === "--cap-add" ? [argv[i + 1]] : []));
    expect(added).toEqual([...ROOT_CAPABILITIES]);
    expect(added).not.toContain("CAP_SYS_ADMIN");
    expect(added).not.toContain("CAP_MKNOD");
    expect(argv.indexOf("--cap-drop")).toBeLessThan(argv.indexOf("--cap-add"));
  });

  it("stages root's bind sources in a private mount namespace first; an ordinary user's are bound by path", () => {
    const binds = [{ source: "/tmp/private/repo", target: "/repo" }];
    const argv = argvOf({ root: overlay, command: ["true"], network: false, binds });
    expect(argv.slice(0, 4)).toEqual(["unshare", "--mount", "--propagation=private", "--"]);
    expect(argv.slice(argv.indexOf("deb-mock-stage") + 1, argv.indexOf("deb-mock-stage") + 5)).toEqual([
      "/run/filter.bpf",
      "/run/binds",
      "1",
      "/tmp/private/repo",
    ]);
    expect(argv.join(" ")).toContain("--bind /run/binds/0 /repo");
    const user = { ...range, caller: { uid: 1000, gid: 1000, name: "u" } };
    const asUser = sandboxArgv({ root: overlay, command: ["true"], network: false, binds }, user, { seccomp: "/s", stage: "/st" });
    expect(asUser[0]).toBe("sh");
    expect(asUser.join(" ")).toContain("--bind /tmp/private/repo /repo");
  });

  it("keeps the host network only when asked, with its resolv.conf", () => {
    const argv = argvOf({ root: overlay, command: ["apt-get", "update"], network: true });
    expect(argv).not.toContain("--unshare-net");
    expect(argv.join(" ")).toContain("--ro-bind /etc/resolv.conf /etc/resolv.conf");
    expect(argv).not.toContain("setpriv");
  });

  it("passes values as arguments, never inside the shell script", () => {
    const argv = argvOf({ root: overlay, command: ["echo", "$(rm -rf /)"], network: false, env: { X: "a b;c" } });
    const script = argv[argv.indexOf("-c") + 1]!;
    expect(script).not.toContain("/c/");
    expect(script).not.toContain("filter.bpf");
    expect(argv.at(-1)).toBe("$(rm -rf /)");
  });

  it("maps the caller as well only for the helper namespaces of an ordinary user, never for root", () => {
    expect(userNamespacePrefix(range, { mapCaller: true })).not.toContain("--map-user=65536");
    const user = { ...range, caller: { uid: 1000, gid: 1000, name: "u" } };
    expect(userNamespacePrefix(user, { mapCaller: true })).toEqual(expect.arrayContaining(["--map-user=65536", "--map-group=65536"]));
    expect(userNamespacePrefix(user)).not.toContain("--map-user=65536");
  });
});

describe("removeStaleSandboxDirs", () => {
  it("removes its own directories of dead processes and keeps those of live ones and of other users", () => {
    const parent = mkdtempSync(join(tmpdir(), "sandbox-dirs-"));
    try {
      const dead = spawnSync("true").pid; // a process that has exited
      const names = [
        `deb-mock-sandbox-${dead}-aaaaaa`,
        `deb-mock-sandbox-${process.pid}-bbbbbb`,
        "deb-mock-sandbox-1-cccccc",
        "unrelated-1",
      ];
      for (const name of names) mkdirSync(join(parent, name, "binds"), { recursive: true });
      // a dead process's directory that belongs to another user is not ours to remove
      const othersDead = `deb-mock-sandbox-${dead}-dddddd`;
      mkdirSync(join(parent, othersDead, "binds"), { recursive: true });
      chownSync(join(parent, othersDead), 54321, 54321);
      removeStaleSandboxDirs(parent);
      expect(readdirSync(parent).sort()).toEqual([...names.slice(1), othersDead].sort());
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
