import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// `npm run debs` from this checkout's HEAD: a source package with vendored node_modules, built by deb-mock
// in trixie with no network, lintian-clean; then the .debs installed into a fresh trixie snapshot, where
// the three commands run on Debian's nodejs and the services' configuration checks out.
const root = join(import.meta.dirname, "..");
const out = mkdtempSync("/var/tmp/debian-packages-test-");
afterAll(() => rmSync(out, { recursive: true, force: true }));

const run = (command: string, args: string[]) => spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 << 20 });
const debs = () => readdirSync(out).filter((f) => f.endsWith(".deb"));
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
