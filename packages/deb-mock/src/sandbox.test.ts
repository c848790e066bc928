import { describe, expect, it } from "vitest";
import { sandboxArgv } from "./sandbox.js";

describe("sandboxArgv", () => {
  const overlay = {
    kind: "overlay" as const,
    lower: ["/c/index", "/c/base"],
    upper: "/c/s/upper",
    work: "/c/s/work",
    mountpoint: "/c/s/root",
  };

  it("mounts the overlay in a private mount namespace, then isolates with bubblewrap", () => {
    const argv = sandboxArgv({ root: overlay, command: ["dpkg-buildpackage"], network: false, user: { uid: 2000, gid: 2000 } });
    expect(argv.slice(0, 5)).toEqual(["unshare", "--mount", "--propagation", "private", "--"]);
    expect(argv).toContain("lowerdir=/c/index:/c/base,upperdir=/c/s/upper,workdir=/c/s/work");
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
    expect(bwrap.slice(bwrap.indexOf("--") + 1)).toEqual([
      "setpriv",
      "--reuid=2000",
      "--regid=2000",
      "--clear-groups",
      "--",
      "dpkg-buildpackage",
    ]);
  });

  it("keeps the host network only when asked, with its resolv.conf", () => {
    const argv = sandboxArgv({ root: overlay, command: ["apt-get", "update"], network: true });
    expect(argv).not.toContain("--unshare-net");
    expect(argv.join(" ")).toContain("--ro-bind /etc/resolv.conf /etc/resolv.conf");
    expect(argv).not.toContain("setpriv");
  });

  it("passes values as arguments, never inside the shell script", () => {
    const argv = sandboxArgv({ root: overlay, command: ["echo", "$(rm -rf /)"], network: false, env: { X: "a b;c" } });
    const script = argv[argv.indexOf("-c") + 1]!;
    expect(script).not.toContain("/c/");
    expect(argv.at(-1)).toBe("$(rm -rf /)");
  });
});
