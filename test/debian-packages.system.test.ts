import { spawnSync } from "node:child_process";
import {
  appendFileSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { defaultMirror } from "@debian-bootc/debian";
import { afterAll, describe, expect, it } from "vitest";
import { bootNspawn, type NspawnMachine } from "./nspawn-machine.js";

// `npm run debs` from this checkout's HEAD: a source package with vendored node_modules, built by deb-mock
// in trixie with no network, lintian-clean; then the .debs installed into a fresh trixie snapshot, where
// the three commands run on Debian's nodejs and the services' configuration checks out.
const root = join(import.meta.dirname, "..");
const out = mkdtempSync("/var/tmp/debian-packages-test-");
afterAll(() => rmSync(out, { recursive: true, force: true }));

const run = (command: string, args: string[]) => spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 << 20 });
const CACHE = "/var/cache/deb-mock";
// the packages proper (the addon's -dbgsym package aside)
const debs = () => readdirSync(out).filter((f) => f.endsWith(".deb") && !f.includes("-dbgsym_"));
const contents = (deb: string) => run("dpkg-deb", ["--contents", join(out, deb)]).stdout;
const field = (deb: string, name: string) => run("dpkg-deb", ["--field", join(out, deb), name]).stdout.trim();

describe("the Debian packages", () => {
  it("scripts/make-debs builds them with deb-mock, lintian-clean", () => {
    const made = run("bash", [join(root, "scripts", "make-debs"), out]);
    expect(made.status, made.stderr.slice(-4000)).toBe(0);
    const result = JSON.parse(readFileSync(join(out, "result.json"), "utf8")) as {
      status: string;
      checks?: { lintian?: { ok: boolean; output: string } };
    };
    expect(result.status).toBe("success");
    const tags = (result.checks?.lintian?.output ?? "").split("\n").filter((line) => /^[EW]: /.test(line));
    expect(result.checks?.lintian?.ok).toBe(true);
    expect(tags).toEqual([]);
    expect(
      debs()
        .map((f) => f.replace(/_.*/, ""))
        .sort(),
    ).toEqual(["deb-bootc-compose", "deb-mock", "deb-orchestrator", "debian-bootc-common"]);
  });

  it("puts each command in /usr/bin, the code and its production modules in /usr/lib/debian-bootc", () => {
    const common = contents(debs().find((f) => f.startsWith("debian-bootc-common_"))!);
    for (const tool of ["deb-mock", "deb-orchestrator", "deb-bootc-compose"]) {
      const deb = debs().find((f) => f.startsWith(`${tool}_`))!;
      expect(contents(deb)).toContain(`./usr/bin/${tool} -> ../lib/debian-bootc/packages/${tool}/dist/cli.js`);
      expect(common).toContain(`./usr/lib/debian-bootc/packages/${tool}/dist/cli.js`);
      expect(field(deb, "Depends")).toMatch(/nodejs \(>= 20\.19\)/);
    }
    expect(common).toContain("better_sqlite3.node");
    // the hub serves its web UI's stylesheet and script from beside its code
    expect(common).toContain("./usr/lib/debian-bootc/packages/deb-orchestrator/dist/web/assets/web.css");
    expect(common).not.toMatch(/node_modules\/(typescript|vitest|@biomejs)\//);
  });

  it("ships the hub's and the builder's units and configuration files in deb-orchestrator", () => {
    const deb = join(out, debs().find((f) => f.startsWith("deb-orchestrator_"))!);
    const files = contents(deb.replace(/.*\//, ""));
    expect(files).toContain("./usr/lib/systemd/system/deb-orchestrator-hub.service");
    expect(files).toContain("./usr/lib/systemd/system/deb-orchestrator-builder.service");
    const conffiles = run("dpkg-deb", ["--info", deb, "conffiles"]).stdout;
    expect(conffiles).toContain("/etc/deb-orchestrator/hub.yaml");
    expect(conffiles).toContain("/etc/deb-orchestrator/builder.yaml");
  });

  it("installs into a fresh trixie environment, where the commands run on Debian's nodejs", () => {
    const packages = debs().flatMap((f) => ["--package", join(out, f)]);
    const script = [
      "set -e",
      "node --version",
      "deb-mock --version",
      "deb-bootc-compose --version",
      "deb-orchestrator hub --check-config",
      "deb-orchestrator builder --check-config",
      "getent passwd _deb-orchestrator",
      'node -e \'const D = require("/usr/lib/debian-bootc/node_modules/better-sqlite3"); console.log(new D(":memory:").prepare("select 41 + 1 as x").get().x)\'',
    ].join("\n");
    const ran = run("node", [join(root, "packages", "deb-mock", "dist", "cli.js"), "chroot", ...packages, "--", "sh", "-c", script]);
    expect(ran.status, ran.stderr.slice(-4000)).toBe(0);
    expect(ran.stdout).toContain("/etc/deb-orchestrator/hub.yaml: valid");
    expect(ran.stdout).toContain("/etc/deb-orchestrator/builder.yaml: valid");
    expect(ran.stdout).toMatch(/^42$/m);
  });
});

/** A TCP port free on the host's loopback now (the booted machine shares the host's network). */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });

/**
 * The base generation and index make-debs' build used on this host, laid out in the machine's own
 * deb-mock cache: its meta.json copied, its rootfs and the index bound read-only (nspawn options), its
 * deps/ and plans/ the machine's own. The machine's deb-mock computes its base key itself: the same key
 * (same code, profile, mirror and id range) finds this base; another would make a new one.
 */
function seedBase(tree: string): { key: string; binds: string[] } {
  const result = JSON.parse(readFileSync(join(out, "result.json"), "utf8")) as {
    profile: { name: string };
    environmentHash: string;
    baseGeneration: string;
    indexGeneration: string;
  };
  const key = `${result.profile.name}-${result.environmentHash.slice(0, 16)}`;
  const host = join(CACHE, "bases", key);
  const inside = join(tree, CACHE.slice(1), "bases", key);
  const generation = join(inside, result.baseGeneration);
  for (const dir of ["rootfs", "deps", "plans"]) mkdirSync(join(generation, dir), { recursive: true, mode: 0o755 });
  copyFileSync(join(host, result.baseGeneration, "meta.json"), join(generation, "meta.json"));
  mkdirSync(join(inside, result.indexGeneration), { mode: 0o755 });
  symlinkSync(result.baseGeneration, join(inside, "current"));
  symlinkSync(result.indexGeneration, join(inside, "index"));
  const bind = (path: string) => `--bind-ro=${join(host, path)}:${join(CACHE, "bases", key, path)}`;
  return { key, binds: [bind(join(result.baseGeneration, "rootfs")), bind(result.indexGeneration)] };
}

// A tiny native source package with no build-dependencies beyond build-essential.
const SAMPLE = {
  "debian/control":
    "Source: appliance-hello\nSection: misc\nPriority: optional\nMaintainer: Test <test@localhost>\nStandards-Version: 4.7.2\nRules-Requires-Root: no\n\nPackage: appliance-hello\nArchitecture: any\nDescription: greeting built by the booted appliance\n A test package.\n",
  "debian/changelog":
    "appliance-hello (1.0) trixie; urgency=medium\n\n  * Built inside the booted appliance.\n\n -- Test <test@localhost>  Thu, 03 Dec 2026 12:00:00 +0000\n",
  "debian/source/format": "3.0 (native)\n",
  "debian/rules": [
    "#!/usr/bin/make -f",
    "build build-arch build-indep:",
    // the builder's buildArch task builds the architecture-dependent part (-B)
    "binary-indep:",
    "binary binary-arch:",
    "\tmkdir -p debian/tmp/DEBIAN debian/tmp/usr/share/appliance-hello",
    "\techo hello from the appliance > debian/tmp/usr/share/appliance-hello/greeting",
    "\tdpkg-gencontrol -Pdebian/tmp",
    "\tdpkg-deb --root-owner-group --build debian/tmp ..",
    "clean:",
    "\trm -rf debian/tmp debian/files",
    "",
  ].join("\n"),
};

describe("the Debian packages in a booted trixie system", () => {
  let tree = "";
  let machine: NspawnMachine | undefined;
  afterAll(async () => {
    await machine?.stop();
    if (tree) rmSync(tree, { recursive: true, force: true });
  });

  it("start the hub and the builder as services, which build a package", async () => {
    const started = Date.now();
    const phases: Record<string, number> = {};
    const lap = (name: string) => (phases[name] = Math.round((Date.now() - started) / 1000));
    tree = mkdtempSync("/var/tmp/debian-packages-booted-");
    const root = join(tree, "root");
    const name = `dbc-${process.pid}`;
    const mirror = await defaultMirror();
    const include = debs().map((f) => `--include=${join(out, f)}`);
    const made = run("mmdebstrap", [
      "--variant=apt",
      "--include=systemd-sysv,dbus",
      ...include,
      "--hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount",
      "trixie",
      root,
      `deb ${mirror} trixie main`,
    ]);
    expect(made.status, made.stderr.slice(-4000)).toBe(0);
    lap("mmdebstrap");
    writeFileSync(join(root, "etc", "hostname"), `${name}\n`);
    // the machine shares the host's network: the hub gets a port free on the host's loopback
    const port = await freePort();
    const hub = `http://127.0.0.1:${port}`;
    appendFileSync(join(root, "etc", "deb-orchestrator", "hub.yaml"), `listen: 127.0.0.1:${port}\n`);
    const builderYaml = join(root, "etc", "deb-orchestrator", "builder.yaml");
    writeFileSync(builderYaml, readFileSync(builderYaml, "utf8").replace(/^hub: .*$/m, `hub: ${hub}`));
    const seeded = seedBase(root);
    for (const [path, text] of Object.entries(SAMPLE)) {
      mkdirSync(join(root, "root", "appliance-hello", path, ".."), { recursive: true });
      writeFileSync(join(root, "root", "appliance-hello", path), text, { mode: path === "debian/rules" ? 0o755 : 0o644 });
    }

    machine = await bootNspawn(root, name, seeded.binds);
    const inside = async (...command: string[]) => {
      const ran = await machine!.exec(command, { okCodes: Array.from({ length: 255 }, (_, i) => i + 1) });
      return { ...ran, all: `${ran.stdout}${ran.stderr}` };
    };
    // systemctl answers "offline" until the manager's socket is up; then --wait waits for the boot to finish
    let running = await inside("systemctl", "is-system-running", "--wait");
    for (let i = 0; i < 100 && ["", "offline"].includes(running.stdout.trim()); i++) {
      await new Promise((r) => setTimeout(r, 300));
      running = await inside("systemctl", "is-system-running", "--wait");
    }
    expect(running.stdout.trim(), `${running.all}\n${(await inside("systemctl", "--failed", "--no-pager")).all}`).toBe("running");
    lap("booted");

    // the hub started on installation's defaults (enabled by the package) and wrote the admin token
    expect((await inside("systemctl", "is-active", "deb-orchestrator-hub")).stdout.trim()).toBe("active");
    expect((await inside("stat", "-c", "%U %a", "/var/lib/deb-orchestrator")).stdout.trim()).toBe("_deb-orchestrator 750");
    // it writes the admin token, then listens: wait until it answers with it
    const admin = ["deb-orchestrator", "--hub", hub, "--token-file", "/var/lib/deb-orchestrator/admin.token"];
    let answered = await inside(...admin, "list-hosts");
    for (let i = 0; i < 120 && answered.code !== 0; i++) {
      await new Promise((r) => setTimeout(r, 500));
      answered = await inside(...admin, "list-hosts");
    }
    expect(answered.code, `${answered.all}\n${(await inside("journalctl", "-u", "deb-orchestrator-hub", "--no-pager")).all}`).toBe(0);
    // no token yet: the builder's unit waits for it (ConditionPathExists)
    expect((await inside("systemctl", "is-active", "deb-orchestrator-builder")).stdout.trim()).toBe("inactive");

    // README.Debian's steps, as root in the machine
    const steps = [
      ["add-user", "builder1", "--perm", "host"],
      ["token", "create", "builder1", "--output", "/etc/deb-orchestrator/builder.token"],
      ["add-external-repo", "debian", mirror, "--suite", "trixie"],
      ["add-tag", "trixie-build", "--external-repo", "debian"],
      ["add-tag", "trixie-candidate", "--parent", "trixie-build"],
      ["add-target", "trixie", "trixie-build", "trixie-candidate"],
    ];
    for (const step of steps) {
      const ran = await inside(...admin, ...step);
      expect(ran.code, `${step.join(" ")}: ${ran.all}`).toBe(0);
    }
    const start = await inside("systemctl", "start", "deb-orchestrator-builder");
    expect(start.code, start.all).toBe(0);
    expect((await inside("systemctl", "is-active", "deb-orchestrator-builder")).stdout.trim()).toBe("active");

    // the builder checks in under the machine's host name
    let hosts = await inside(...admin, "list-hosts", "--json");
    for (let i = 0; i < 120 && !hosts.stdout.includes(name); i++) {
      await new Promise((r) => setTimeout(r, 500));
      hosts = await inside(...admin, "list-hosts", "--json");
    }
    expect(hosts.stdout, (await inside("journalctl", "-u", "deb-orchestrator-builder", "--no-pager")).all).toContain(name);
    lap("checked-in");

    const built = await inside(...admin, "build", "trixie", "/root/appliance-hello", "--wait");
    const journal = (await inside("journalctl", "-u", "deb-orchestrator-builder", "--no-pager")).all;
    expect(built.code, `${built.all}\n${journal.slice(-6000)}`).toBe(0);
    lap("built");
    const builds = await inside(...admin, "list-builds", "--package", "appliance-hello", "--json");
    expect(JSON.parse(builds.stdout)).toMatchObject([{ state: "complete" }]);
    // the destination tag's signed repository serves the .deb
    const listed = await inside(...admin, "list-tagged", "trixie-candidate", "--json");
    expect(listed.stdout).toContain("appliance-hello");
    // the build ran on the seeded base: the machine's deb-mock made no base of its own
    expect((await inside("ls", "/var/cache/deb-mock/bases")).stdout.trim()).toBe(seeded.key);
    expect((await inside("ls", `/var/cache/deb-mock/bases/${seeded.key}`)).stdout).not.toMatch(/^\.?gen-.*tmp/m);

    await machine.stop();
    machine = undefined;
    lap("stopped");
    // nothing of the machine stays mounted on the host
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(tree);
    console.log(`booted appliance test, seconds since start: ${JSON.stringify(phases)}`);
  });
});
