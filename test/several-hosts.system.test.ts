import { existsSync } from "node:fs";
import { chmod, chown, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isCodedError, run } from "@debian-bootc/core";
import type { BuildState, PackageRecord } from "@debian-bootc/deb-bootc-compose";
import { generateOpenPgpKey } from "@debian-bootc/debian";
import { afterAll, describe, expect, it } from "vitest";
import { cacheWithPrivateRootfs } from "../packages/deb-bootc-compose/src/image-task/__fixtures__/minimal-compose.js";
import { expectBootedAs, expectBuiltImage, expectRecordedCompose } from "./built-image.js";

/**
 * The workflow across several hosts, made of network namespaces on one bridge (veth pairs): the hub on
 * PostgreSQL in one, a builder in each of two others, the compose in a fourth, all talking to each other
 * over those addresses only. The builders run real deb-mock builds; like real hosts they reach the Debian
 * mirror through a router, here the test machine itself (IP forwarding and a masquerade rule for the
 * test's subnet, both undone afterwards). Four sources are built; both builders take builds; the first
 * builder is SIGKILLed in the middle of its second build, its lease lapses, the other builder builds it
 * again, and the compose finishes. The builders share the machine's deb-mock cache (bases and
 * build-dependency layers), as builders on one NFS-mounted cache would. Needs root, iproute2, nftables,
 * Debian's postgresql and the mirror.
 *
 * Then, on the same hosts, the whole image: both builders also have the `image` capability, and a compose
 * of a bootable trixie image (the four packages and the example's branding package built by the hub) is
 * submitted from the compose host with `--images-on hub`: its image phases run as an image task on a
 * builder, which is SIGKILLed once the task's command runs there; the other builder runs the same task
 * again after the lease lapses, the compose host places the results and signs the commit, a diskImage
 * task makes the disk image of the signed commit, and the compose is FINISHED (its test phase skipped).
 * The image is checked as the one-machine workflow test checks its own. The image tasks share a compose
 * cache of their own (rootfs trees), the machine's .debs and package indexes linked in, as the compose
 * host's cache has them. Then the next compose of that definition (a new version) runs its test phase on
 * the surviving builder: the diskImage task boots the new disk image to its marker, and an updateTest task
 * boots the first compose's image, upgrades it over HTTP from the channel the client signed, boots the new
 * commit and rolls back. Also needs mmdebstrap, skopeo, umoci and QEMU; about 11 minutes under TCG.
 */

const root = fileURLToPath(new URL("..", import.meta.url));
const orchestratorCli = join(root, "packages", "deb-orchestrator", "src", "cli.ts");
const composeCli = join(root, "packages", "deb-bootc-compose", "src", "cli.ts");
const id = (process.pid % 100000).toString(36);
const NET = "10.231.77";
const HOSTS = { hub: 1, b1: 2, b2: 3, compose: 4 } as const;
type Host = keyof typeof HOSTS;
const ns = (h: Host) => `wf${id}-${h}`;
const bridge = `wfbr${id}`;
const ROUTER = `${NET}.254`; // the test machine's own address on the bridge
const hubUrl = `http://${NET}.${HOSTS.hub}:8470`;
const SOURCES = ["wf-alpha", "wf-bravo", "wf-charlie", "wf-delta"];
const examples = join(root, "examples");

let dir = "";
/** The image test's definition (with an update channel), its compose directory and the builder that outlived it. */
let imageDefinition = "";
let firstImageCompose = "";
let survivor: "b1" | "b2" = "b2";
const daemons: AbortController[] = [];
const created: Host[] = [];
let pgStop: (() => Promise<unknown>) | undefined;
let pgDir = "";
let restoreForwarding: string | undefined;
const natTable = `wf${id}`;

afterAll(async () => {
  for (const d of daemons) d.abort();
  await pgStop?.().catch(() => {});
  for (const h of created) await run("ip", ["netns", "del", ns(h)]).catch(() => {});
  await run("ip", ["link", "del", bridge]).catch(() => {});
  await run("nft", ["delete", "table", "ip", natTable]).catch(() => {});
  if (restoreForwarding !== undefined) await writeFile("/proc/sys/net/ipv4/ip_forward", restoreForwarding);
  if (dir) await rm(dir, { recursive: true, force: true });
  if (pgDir) await rm(pgDir, { recursive: true, force: true });
});

/** A program in a host's namespace. */
function inHost(h: Host, program: string, args: string[], options: Parameters<typeof run>[2] = {}) {
  return run("ip", ["netns", "exec", ns(h), program, ...args], { cwd: root, ...options });
}
const node = (cli: string) => [process.execPath, ["--conditions=source", "--import", "tsx", cli]] as const;

/** A long-running program in a host's namespace; abort() SIGKILLs it. Output goes to a log file. */
function daemon(h: Host, name: string, cli: string, args: string[], onLine?: (line: string) => void): AbortController {
  const controller = new AbortController();
  daemons.push(controller);
  const [program, pre] = node(cli);
  let pending = "";
  const logs: Buffer[] = [];
  const onChunk = (chunk: Buffer) => {
    logs.push(chunk);
    pending += chunk.toString("utf8");
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) onLine?.(line);
  };
  inHost(h, program, [...pre, ...args], { signal: controller.signal, onStdout: onChunk, onStderr: onChunk, captureStdout: false })
    .catch((error) => {
      if (!isCodedError(error, "INTERRUPTED")) throw error;
    })
    .catch((error) => logs.push(Buffer.from(`\n${(error as Error).message}\n`)))
    .finally(() => void writeFile(join(dir, `${name}.log`), Buffer.concat(logs)).catch(() => {}));
  return controller;
}

/** A hub API answer, read from the compose host. */
async function hubText(path: string): Promise<string> {
  const script = `fetch(${JSON.stringify(hubUrl + path)}).then(async (r) => { if (!r.ok) process.exit(3); process.stdout.write(await r.text()); })`;
  return (await inHost("compose", process.execPath, ["-e", script])).stdout;
}
const hubGet = async <T>(path: string): Promise<T> => JSON.parse(await hubText(path)) as T;
type TaskView = { id: number; state: string; host: string | null; attempts: number };

async function network(): Promise<void> {
  await run("ip", ["link", "add", bridge, "type", "bridge"]);
  // bridged frames skip the host's iptables (br_netfilter), whatever its FORWARD policy
  await run("ip", ["link", "set", bridge, "type", "bridge", "nf_call_iptables", "0"]).catch(() => {});
  await run("ip", ["addr", "add", `${ROUTER}/24`, "dev", bridge]);
  await run("ip", ["link", "set", bridge, "up"]);
  for (const [h, n] of Object.entries(HOSTS) as [Host, number][]) {
    await run("ip", ["netns", "add", ns(h)]);
    created.push(h);
    const outside = `wf${id}o${n}`;
    const inside = `wf${id}i${n}`;
    await run("ip", ["link", "add", outside, "type", "veth", "peer", "name", inside]);
    await run("ip", ["link", "set", inside, "netns", ns(h)]);
    await run("ip", ["link", "set", outside, "master", bridge, "up"]);
    await run("ip", ["-n", ns(h), "addr", "add", `${NET}.${n}/24`, "dev", inside]);
    await run("ip", ["-n", ns(h), "link", "set", inside, "up"]);
    await run("ip", ["-n", ns(h), "link", "set", "lo", "up"]);
    await run("ip", ["-n", ns(h), "route", "add", "default", "via", ROUTER]);
  }
  // the route out: forward the subnet's packets and masquerade them behind the machine's address
  restoreForwarding = (await readFile("/proc/sys/net/ipv4/ip_forward", "utf8")).trim();
  await writeFile("/proc/sys/net/ipv4/ip_forward", "1");
  await run("nft", ["add", "table", "ip", natTable]);
  await run("nft", ["add", "chain", "ip", natTable, "out", "{ type nat hook postrouting priority 100 ; }"]);
  await run("nft", ["add", "rule", "ip", natTable, "out", "ip", "saddr", `${NET}.0/24`, "oifname", "!=", bridge, "masquerade"]);
}

/** PostgreSQL inside the hub's namespace, on its loopback. */
async function postgres(): Promise<string> {
  const versions = (await readdir("/usr/lib/postgresql")).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  const bin = `/usr/lib/postgresql/${versions[0]}/bin`;
  // its own temp dir: the test's is 0700 root, which the postgres user cannot enter
  pgDir = await mkdtemp(join(tmpdir(), "several-hosts-pg-"));
  const uid = Number((await run("id", ["-u", "postgres"])).stdout.trim());
  const gid = Number((await run("id", ["-g", "postgres"])).stdout.trim());
  await chown(pgDir, uid, gid);
  const as = (program: string, args: string[]) =>
    inHost("hub", "setpriv", [`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", program, ...args], { cwd: pgDir });
  await as(join(bin, "initdb"), ["-D", join(pgDir, "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--locale=C"]);
  const settings = `-p 5432 -k ${pgDir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off`;
  await as(join(bin, "pg_ctl"), ["-D", join(pgDir, "data"), "-o", settings, "-l", join(pgDir, "log"), "-w", "-t", "60", "start"]);
  pgStop = () => as(join(bin, "pg_ctl"), ["-D", join(pgDir, "data"), "-m", "immediate", "-w", "stop"]);
  return "postgres://postgres@127.0.0.1:5432/postgres";
}

/** A minimal native source tree: one arch:all binary package of the same name. */
async function sourceTree(name: string): Promise<void> {
  const d = join(dir, "def", name, "debian");
  await mkdir(join(d, "source"), { recursive: true });
  await writeFile(
    join(d, "changelog"),
    `${name} (1.0) trixie; urgency=medium\n\n  * Several-hosts test.\n\n -- Test <test@localhost>  Thu, 26 Nov 2026 12:00:00 +0000\n`,
  );
  await writeFile(
    join(d, "control"),
    `Source: ${name}\nSection: misc\nPriority: optional\nMaintainer: Test <test@localhost>\nBuild-Depends: debhelper-compat (= 13)\n\nPackage: ${name}\nArchitecture: all\nDescription: test package ${name}\n Built across hosts.\n`,
  );
  await writeFile(join(d, "rules"), "#!/usr/bin/make -f\n%:\n\tdh $@\n", { mode: 0o755 });
  await writeFile(join(d, "source", "format"), "3.0 (native)\n");
}

/** Polls check until it holds; gives up after ms, or as soon as stop() holds. */
async function waitFor(what: string, check: () => Promise<boolean>, ms = 60_000, stop = () => false): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !stop()) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${stop() ? "gave up" : "timed out"} waiting for ${what}`);
}

/** The processes whose command line names path (a killed builder's image command would). */
async function processesNaming(path: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir("/proc")).filter((p) => /^\d+$/.test(p))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(path)) found.push(cmdline.replaceAll("\0", " "));
  }
  return found;
}

// what the two tests share: the hosts, the hub and its builds, the builders
let adminToken = "";
let composeCache = "";
const builders: Partial<Record<"b1" | "b2", AbortController>> = {};
type Builder = "b1" | "b2";

/**
 * A builder daemon in its host's namespace: package builds with deb-mock and image tasks with the
 * compose's own image-task command (run from the sources through a wrapper, as the package's bin would).
 */
function startBuilder(b: Builder, log: string, onLine?: (line: string) => void): AbortController {
  const args = ["builder", "--hub", hubUrl, "--token-file", join(dir, `${b}.token`), "--name", b, "--arch", "amd64"];
  args.push("--capacity", "1", "--work-dir", join(dir, `${b}-work`), "--capability", "build", "--capability", "image");
  args.push("--compose-command", join(dir, "deb-bootc-compose"), "--image-cache-dir", join(dir, "image-tasks", "cache"));
  builders[b] = daemon(b, log, orchestratorCli, args, onLine);
  return builders[b];
}

/** deb-bootc-compose compose DEF on the compose host, with the hub, the admin token and the host's cache. */
function composeOnHost(definition: string, extra: string[]) {
  const [program, pre] = node(composeCli);
  const args = ["compose", definition, "--hub", hubUrl, "--token-file", adminToken, "--output", join(dir, "composes")];
  return inHost("compose", program, [...pre, ...args, "--cache-dir", composeCache, ...extra]);
}

describe("several hosts: hub on PostgreSQL, two builders, compose, over network namespaces", () => {
  it("spreads the builds over both builders and survives one builder killed mid-build", async () => {
    dir = await mkdtemp(join(tmpdir(), "several-hosts-"));
    // the image sandboxes' root (an unprivileged id of the range) must be able to enter the work directories
    await chmod(dir, 0o755);
    composeCache = await cacheWithPrivateRootfs(dir);
    await mkdir(join(dir, "image-tasks"));
    await cacheWithPrivateRootfs(join(dir, "image-tasks"));
    const [node0, nodeArgs] = node(composeCli);
    await writeFile(join(dir, "deb-bootc-compose"), `#!/bin/sh\nexec ${[node0, ...nodeArgs].join(" ")} "$@"\n`, { mode: 0o755 });
    await network();
    const db = await postgres();
    const hubData = join(dir, "hub");
    daemon("hub", "hub", orchestratorCli, ["hub", "--db", db, "--data", hubData, "--listen", `${NET}.${HOSTS.hub}:8470`, "--lease", "10"]);
    await waitFor("the hub", async () => (await hubGet<{ ok?: boolean }>("/api/v1/health")) !== undefined);
    adminToken = join(hubData, "admin.token");
    const [program, pre] = node(orchestratorCli);
    const client = (args: string[]) => inHost("compose", program, [...pre, "--hub", hubUrl, "--token-file", adminToken, ...args]);
    for (const b of ["b1", "b2"] as const) {
      await client(["add-user", `builder-${b}`, "--perm", "host"]);
      await client(["token", "create", `builder-${b}`, "--output", join(dir, `${b}.token`)]);
    }

    // b1 is killed when it starts its second build; which task that was is read from its log
    const started: Record<string, number[]> = { b1: [], b2: [] };
    let killedTask: number | undefined;
    for (const b of ["b1", "b2"] as const)
      startBuilder(b, b, (line) => {
        const m = /"task-started"|task-started/.test(line) ? /"task":(\d+)/.exec(line) : null;
        if (!m) return;
        started[b]!.push(Number(m[1]));
        if (b === "b1" && started.b1!.length === 2 && killedTask === undefined) {
          killedTask = Number(m[1]);
          setTimeout(() => builders.b1!.abort(), 1000); // SIGKILL, one second into the build
        }
      });
    await waitFor("both builders", async () => (await hubGet<{ name: string }[]>("/api/v1/hosts")).length === 2);

    for (const s of SOURCES) await sourceTree(s);
    const defPath = join(dir, "def", "several.yaml");
    await writeFile(
      defPath,
      [
        "name: several-hosts",
        'version: "1"',
        "repositories:",
        "  - type: orchestrator",
        "    tag: several",
        "baseline: none",
        "bootloader: none",
        `kernel: { package: ${SOURCES[0]} }`,
        `packages: [${SOURCES.join(", ")}]`,
        "outputs: [oci]",
        "build:",
        "  target: several",
        "  sources:",
        ...SOURCES.map((s) => `    - path: ${s}`),
        "",
      ].join("\n"),
    );
    const phases = ["build", "pkgset", "gather", "snapshot-repo", "metadata"].flatMap((p) => ["--just-phase", p]);
    const composed = await composeOnHost(defPath, phases);
    expect(composed.stdout).toMatch(/several-hosts-1-\d+\.0: FINISHED/);
    expect(composed.stdout).not.toMatch(/127\.0\.0\.1/); // the compose only ever talked to the hub's address

    // b1 was killed in the middle of a build; that task ended on b2 after its lease lapsed
    expect(killedTask).toBeDefined();
    const killed = await hubGet<{ state: string; host: string | null; attempts: number; parent: number }>(`/api/v1/tasks/${killedTask}`);
    expect(killed).toMatchObject({ state: "closed", host: "b2" });
    expect(killed.attempts).toBeGreaterThanOrEqual(1);

    const composeDir = join(dir, "composes", "latest-several-hosts");
    const builds = JSON.parse(await readFile(join(composeDir, "compose", "metadata", "builds.json"), "utf8")).payload as BuildState;
    expect(builds.hub.url).toBe(hubUrl);
    expect(builds.builds.map((b) => b.source).sort()).toEqual([...SOURCES].sort());
    const hosts = builds.builds.map((b) => b.arches[0]?.host);
    expect(new Set(hosts)).toEqual(new Set(["b1", "b2"])); // both builders built some
    const packages = JSON.parse(await readFile(join(composeDir, "compose", "metadata", "packages.json"), "utf8")).payload.packages.minimal
      .amd64 as PackageRecord[];
    for (const s of SOURCES) {
      const build = builds.builds.find((b) => b.source === s)!;
      const pkg = packages.find((p) => p.name === s)!;
      expect(pkg.sha256).toBe(build.binaries.find((b) => b.name === s)!.sha256);
      expect(pkg.orchestrator).toMatchObject({ hub: hubUrl, build: build.buildId, host: build.arches[0]!.host });
      // built for real: deb-mock installed the build dependencies from the mirror into the buildroot
      const info = await hubGet<{ buildroots: { id: number; installed: { name: string }[] }[] }>(`/api/v1/builds/${build.buildId}`);
      const buildroot = info.buildroots.find((r) => r.id === build.arches[0]!.buildroot)!;
      expect(buildroot.installed.map((p) => p.name)).toEqual(expect.arrayContaining(["debhelper", "dpkg-dev"]));
    }
  });

  it("makes the whole image on the builders, one of them killed in the middle of the image task", { timeout: 40 * 60_000 }, async () => {
    expect(adminToken, "the hosts and the hub of the first test").not.toBe("");
    // b1 was killed in the first test: it comes back, and checks in again
    const back = Date.now();
    startBuilder("b1", "b1-again");
    await waitFor("b1 back", async () =>
      (await hubGet<{ name: string; lastCheckin: number | null }[]>("/api/v1/hosts")).some(
        (h) => h.name === "b1" && (h.lastCheckin ?? 0) >= back - 1000,
      ),
    );

    // examples/debian-bootc.yaml's bootable image with the four packages the first test built and the
    // example's branding package, built now (the four are reused)
    await cp(join(examples, "branding"), join(dir, "def", "branding"), { recursive: true });
    // an update channel from the first image on: the next compose's update test boots this one's image
    await writeFile(
      join(dir, "def", "channel.asc"),
      (await generateOpenPgpKey({ name: "channel", email: "c@deb-bootc-compose.invalid" })).privateKey,
      { mode: 0o600 },
    );
    const defPath = join(dir, "def", "several-image.yaml");
    const wanted = ["systemd", "systemd-sysv", "udev", "dbus", "dracut", "ostree", "ostree-boot", "login", "passwd"];
    wanted.push("util-linux", "e2fsprogs", "kmod", "debian-bootc-branding", ...SOURCES);
    await writeFile(
      defPath,
      [
        "name: several-hosts-image",
        'version: "13.0"',
        "suite: trixie",
        "arches: [amd64]",
        "repositories:",
        "  - type: debian",
        "    components: [main]",
        "build:",
        "  target: several",
        "  sources:",
        ...[...SOURCES, "branding"].map((s) => `    - path: ${s}`),
        "recommends: false",
        `packages: [${wanted.join(", ")}]`,
        "exclude: [initramfs-tools]",
        "variants:",
        "  minimal:",
        "    description: a bootable image made on the builders",
        "kernel: { package: linux-image-amd64, initramfs: dracut }",
        "bootloader: grub",
        "kargs:",
        "  - rw",
        "  - console=ttyS0,115200",
        "postprocess:",
        "  - name: machine-id",
        "    run: ': > /etc/machine-id'",
        "image: { name: debian/several-hosts }",
        "outputs: [ostree, oci, ociarchive, qcow2]",
        "updates:",
        "  url: http://10.0.2.100/",
        "  key: channel.asc",
        "",
      ].join("\n"),
    );
    imageDefinition = defPath;

    let ended = false;
    // its test phase is skipped (one boot fewer): the next compose's update test boots this image, and that
    // compose's own marker boot is the builder's
    const composing = composeOnHost(defPath, ["--images-on", "hub", "--skip-phase", "test"]).finally(() => {
      ended = true;
    });
    composing.catch(() => {}); // awaited below

    // the builder that took the image task is SIGKILLed once the task's command runs (its live log has begun)
    let imageTask: TaskView | undefined;
    await waitFor(
      "an image task running on a builder",
      async () => {
        const [task] = await hubGet<TaskView[]>("/api/v1/tasks?method=composeImage");
        if (task?.state !== "open" || !task.host) return false;
        if (!(await hubText(`/api/v1/tasks/${task.id}/logs/image.log`))) return false;
        imageTask = task;
        return true;
      },
      20 * 60_000,
      () => ended,
    ).catch(async (error) => {
      await composing; // its error says more
      throw error;
    });
    const victim = imageTask!.host as Builder;
    survivor = victim === "b1" ? "b2" : "b1";
    builders[victim]!.abort();

    const composed = await composing;
    expect(composed.stdout).toMatch(/several-hosts-image-13\.0-\d+\.\d+: FINISHED/);
    // the same task, open on the killed builder, was finished by the other one
    const task = await hubGet<TaskView>(`/api/v1/tasks/${imageTask!.id}`);
    expect(task).toMatchObject({ state: "closed", host: survivor });
    expect(task.attempts).toBeGreaterThanOrEqual(1);
    firstImageCompose = /^\s+(\/\S+)$/m.exec(composed.stdout)?.[1] ?? "";
    expect((await hubGet<TaskView[]>("/api/v1/tasks?method=composeImage")).map((t) => t.id)).toEqual([imageTask!.id]);
    expect(composed.stdout).toContain(`minimal/amd64: image task ${imageTask!.id} open on ${victim}`);
    expect(composed.stdout).toContain(`minimal/amd64: made by image task ${imageTask!.id} on ${survivor}`);
    // the killed builder's command stopped with it (setpriv --pdeathsig) and left no mount
    const victimWork = join(dir, `${victim}-work`);
    expect(await processesNaming(victimWork)).toEqual([]);
    expect(await readFile("/proc/self/mountinfo", "utf8")).not.toContain(victimWork);

    // the compose host's compose directory, checked as the workflow test checks its own
    const composeDir = /^\s+(\/\S+)$/m.exec(composed.stdout)?.[1] ?? "";
    const osRelease = await readFile(join(examples, "branding", "os-release"), "utf8");
    // all but the boot (the next compose's test boots this image, and its own: expectBootedAs there)
    const { builds, packages, built } = await expectBuiltImage(composeDir, {
      tag: "13.0",
      osRelease,
      scratch: join(dir, "unpacked"),
      booted: false,
    });
    expect(builds.hub.url).toBe(hubUrl);
    expect(builds.builds.map((b) => b.source).sort()).toEqual(["debian-bootc-branding", ...SOURCES].sort());
    expect(builds.builds.filter((b) => !b.reused).map((b) => b.source)).toEqual(["debian-bootc-branding"]);
    expect(built.map((b) => b.binary.name).sort()).toEqual(["debian-bootc-branding", ...SOURCES].sort());
    for (const { binary } of built) expect(packages.find((p) => p.name === binary.name)?.orchestrator?.hub).toBe(hubUrl);
    // the disk image was made by a diskImage task of its own, after the client signed the commit: the builder
    // checked the signature with the key the image carries before deploying it
    const [diskTask] = await hubGet<TaskView[]>("/api/v1/tasks?method=diskImage");
    expect(diskTask).toMatchObject({ state: "closed", host: survivor });
    expect(composed.stdout).toContain(`made by disk image task ${diskTask!.id} on ${survivor}`);
    expect(await hubText(`/api/v1/tasks/${diskTask!.id}/logs/image.log`)).toContain(
      "verified: the ref's head, with a good signature by the channel key its image carries",
    );
    // no boot was asked of it (the test phase skipped)
    expect(existsSync(join(composeDir, "logs", "image-task-minimal-amd64", "disk-test.log"))).toBe(false);
    // the hub recorded the compose FINISHED, the image phases done, its image and the packages linked to their builds
    expectRecordedCompose(await hubGet(`/api/v1/composes/${basename(composeDir)}`), built, [
      "build",
      "rootfs",
      "ostree",
      "oci",
      "image-build",
      "metadata",
    ]);
  });

  it("runs the A/B update boot test of the next compose on the surviving builder; the channel's key stays on the client", {
    timeout: 40 * 60_000,
  }, async () => {
    expect(firstImageCompose, "the first image's compose of the test before").not.toBe("");
    // the next compose of the definition is a new version: a new image task (its inputs changed), whose root
    // tree is the one the builders' cache has (the version is no part of a tree), committed anew: the
    // commit to update to
    const text = await readFile(imageDefinition, "utf8");
    await writeFile(imageDefinition, text.replace('version: "13.0"', 'version: "13.1"'));
    const composed = await composeOnHost(imageDefinition, ["--images-on", "hub"]);
    expect(composed.stdout).toMatch(/several-hosts-image-13\.1-\d+\.\d+: FINISHED/);
    const composeDir = /^\s+(\/\S+)$/m.exec(composed.stdout)?.[1] ?? "";
    expect(composeDir).not.toBe(firstImageCompose);
    const imageTasks = await hubGet<TaskView[]>("/api/v1/tasks?method=composeImage");
    expect(imageTasks).toHaveLength(2);
    expect(await hubText(`/api/v1/tasks/${Math.max(...imageTasks.map((t) => t.id))}/logs/image.log`)).toContain(
      "tree reused from the cache",
    );

    // the update test ran as a task of the compose on the builder still alive
    const updateTasks = await hubGet<(TaskView & { method: string; label: string })[]>("/api/v1/tasks?method=updateTest");
    expect(updateTasks).toHaveLength(1);
    expect(updateTasks[0]).toMatchObject({ method: "updateTest", state: "closed", host: survivor });
    expect(updateTasks[0]!.label).toBe(`compose:${basename(composeDir)}:minimal:amd64:update`);
    expect(await hubText(`/api/v1/tasks/${updateTasks[0]!.id}/logs/image.log`)).toContain("update test");

    // the client published and signed the scratch repository but booted nothing: no overlay, no console of its own
    const clientWork = join(composeDir, "work", "amd64", "minimal", "update-test");
    expect((await readdir(clientWork)).sort()).toEqual(["published", "repository.tar", `task-${updateTasks[0]!.id}`]);

    const previousCommit = JSON.parse(
      await readFile(join(firstImageCompose, "compose", "minimal", "amd64", "ostree-commit.json"), "utf8"),
    ).commit;
    const newCommit = JSON.parse(await readFile(join(composeDir, "compose", "minimal", "amd64", "ostree-commit.json"), "utf8")).commit;
    expect(newCommit).not.toBe(previousCommit);
    const records = JSON.parse(await readFile(join(composeDir, "compose", "minimal", "amd64", "boot-tests.json"), "utf8"));

    // the builder booted the new disk image where it made it (the client's test phase asked the diskImage task
    // for it): its test phase's log came back with the task's logs, and the client's test phase took its
    // record instead of booting
    const diskTasks = await hubGet<TaskView[]>("/api/v1/tasks?method=diskImage");
    expect(diskTasks).toHaveLength(2);
    const diskTask = diskTasks.find((t) => t.id !== Math.min(...diskTasks.map((d) => d.id)))!;
    expect(diskTask).toMatchObject({ state: "closed", host: survivor });
    expect(composed.stdout).toContain(`made by disk image task ${diskTask.id} on ${survivor}`);
    expect(await readFile(join(composeDir, "logs", "image-task-minimal-amd64", "disk-test.log"), "utf8")).toContain(
      "boot test marker passed",
    );
    const marker = records.find((r: { kind: string }) => r.kind === "marker");
    expect(marker, JSON.stringify(records)).toMatchObject({ variant: "minimal", arch: "amd64", kind: "marker", passed: true });
    expect(marker.image.startsWith(join(composeDir, "compose", "minimal", "amd64", "images"))).toBe(true);
    expect(marker.consoleLog).toBe(join(composeDir, "logs", "boot-minimal-amd64.log"));
    expect(marker.steps[0]?.marker?.composeId).toBe(basename(composeDir));
    expect(marker.steps[0]?.marker?.commit).toBe(newCommit);
    expect(await readFile(join(composeDir, "logs", "test.log"), "utf8")).toContain("booted where the image was made");
    expect(existsSync(join(composeDir, "work", "amd64", "minimal", "boot-test"))).toBe(false);
    // the booted system is the branding's, as the workflow test checks its own
    await expectBootedAs(composeDir, await readFile(join(examples, "branding", "os-release"), "utf8"));

    // the update test: the first compose's image (never booted before: its compose skipped the test phase)
    // boots, upgrades to the new commit, boots it, rolls back
    const update = records.find((r: { kind: string }) => r.kind === "update");
    expect(update, JSON.stringify(records)).toMatchObject({ variant: "minimal", arch: "amd64", passed: true });
    expect(update.image.startsWith(join(firstImageCompose, "compose", "minimal", "amd64", "images"))).toBe(true);
    expect(update.steps.map((step: { name: string }) => step.name)).toEqual(["upgrade", "updated", "rolled-back"]);
    expect(update.steps.map((step: { marker: { commit: string } }) => step.marker.commit)).toEqual([
      previousCommit,
      newCommit,
      previousCommit,
    ]);
    expect(update.steps[1].marker.composeId).toBe(basename(composeDir));
    expect(update.consoleLog).toBe(join(composeDir, "logs", "boot-minimal-amd64-update.log"));
    expect(await readFile(update.consoleLog, "utf8")).not.toBe("");
    expect(existsSync(join(composeDir, "logs", "boot-minimal-amd64-update.results.log"))).toBe(true);
  });
});
