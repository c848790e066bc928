import { chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isCodedError, run } from "@debian-bootc/core";
import type { BuildState, PackageRecord } from "@debian-bootc/deb-bootc-compose";
import { afterAll, describe, expect, it } from "vitest";

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

let dir = "";
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

async function hubGet<T>(path: string): Promise<T> {
  const script = `fetch(${JSON.stringify(hubUrl + path)}).then(async (r) => { if (!r.ok) process.exit(3); process.stdout.write(await r.text()); })`;
  const { stdout } = await inHost("compose", process.execPath, ["-e", script]);
  return JSON.parse(stdout) as T;
}

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

async function waitFor(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("several hosts: hub on PostgreSQL, two builders, compose, over network namespaces", () => {
  it("spreads the builds over both builders and survives one builder killed mid-build", async () => {
    dir = await mkdtemp(join(tmpdir(), "several-hosts-"));
    await network();
    const db = await postgres();
    const hubData = join(dir, "hub");
    daemon("hub", "hub", orchestratorCli, ["hub", "--db", db, "--data", hubData, "--listen", `${NET}.${HOSTS.hub}:8470`, "--lease", "10"]);
    await waitFor("the hub", async () => (await hubGet<{ ok?: boolean }>("/api/v1/health")) !== undefined);
    const adminToken = join(hubData, "admin.token");
    const [program, pre] = node(orchestratorCli);
    const client = (args: string[]) => inHost("compose", program, [...pre, "--hub", hubUrl, "--token-file", adminToken, ...args]);
    for (const b of ["b1", "b2"] as const) {
      await client(["add-user", `builder-${b}`, "--perm", "host"]);
      await client(["token", "create", `builder-${b}`, "--output", join(dir, `${b}.token`)]);
    }

    // b1 is killed when it starts its second build; which task that was is read from its log
    const started: Record<string, number[]> = { b1: [], b2: [] };
    let killedTask: number | undefined;
    const builders: Record<string, AbortController> = {};
    for (const b of ["b1", "b2"] as const) {
      builders[b] = daemon(
        b,
        b,
        orchestratorCli,
        [
          "builder",
          "--hub",
          hubUrl,
          "--token-file",
          join(dir, `${b}.token`),
          "--name",
          b,
          "--arch",
          "amd64",
          "--capacity",
          "1",
          "--work-dir",
          join(dir, `${b}-work`),
        ],
        (line) => {
          const m = /"task-started"|task-started/.test(line) ? /"task":(\d+)/.exec(line) : null;
          if (!m) return;
          started[b]!.push(Number(m[1]));
          if (b === "b1" && started.b1!.length === 2 && killedTask === undefined) {
            killedTask = Number(m[1]);
            setTimeout(() => builders.b1!.abort(), 1000); // SIGKILL, one second into the build
          }
        },
      );
    }
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
    const [cProgram, cPre] = node(composeCli);
    const phases = ["build", "pkgset", "gather", "snapshot-repo", "metadata"].flatMap((p) => ["--just-phase", p]);
    const composed = await inHost("compose", cProgram, [
      ...cPre,
      "compose",
      defPath,
      "--hub",
      hubUrl,
      "--token-file",
      adminToken,
      "--output",
      join(dir, "composes"),
      "--cache-dir",
      join(dir, "cache"),
      ...phases,
    ]);
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
});
