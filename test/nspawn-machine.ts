// Test support (not shipped): a Debian tree booted with systemd-nspawn, and commands run inside it.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { type RunOptions, type RunResult, run } from "@debian-bootc/core";

export interface NspawnMachine {
  /** The container's PID 1 (systemd), as the host sees it. */
  leader: number;
  /** Runs a command inside the container, in all its namespaces, with a clean environment. */
  exec(command: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** The console output so far (systemd's boot messages). */
  console(): string;
  /** Powers the container off (SIGTERM to systemd-nspawn: an orderly shutdown) and waits for it to end. */
  stop(): Promise<void>;
}

const PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The container's PID 1: a child of nspawn that is PID 1 in its own PID namespace (`NSpid: N 1`). */
function containerInit(nspawn: number): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, "utf8");
      if (/^PPid:\s+(\d+)$/m.exec(status)?.[1] === String(nspawn) && /^NSpid:\s+\d+\s+1$/m.test(status)) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return undefined;
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())));

/**
 * Boots `directory` with systemd-nspawn (`--boot`, sharing the host's network). The host needs no systemd
 * of its own: the machine is not registered with machined and keeps nspawn's cgroup. `setpriv
 * --pdeathsig` ties the machine to this process: if the test runner dies, even by SIGKILL, nspawn gets
 * SIGTERM and shuts the machine down; its mounts live in nspawn's mount namespace and go with it.
 */
export async function bootNspawn(directory: string, name: string, extraArgs: readonly string[] = []): Promise<NspawnMachine> {
  const args = [
    "--pdeathsig=TERM",
    "--",
    "systemd-nspawn",
    "--quiet",
    `--directory=${directory}`,
    `--machine=${name}`,
    "--boot",
    "--register=no",
    "--keep-unit",
    "--console=passive",
    ...extraArgs,
  ];
  const child = spawn("setpriv", args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString("utf8")));
  child.stderr.on("data", (c: Buffer) => (output += c.toString("utf8")));
  const ended = exited(child);
  let leader: number | undefined;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 90_000).unref());
    if (await Promise.race([ended.then(() => true), timeout])) return;
    // no orderly shutdown within 90 s: killing the container's PID 1 ends every process in it
    if (leader !== undefined) process.kill(leader, "SIGKILL");
    child.kill("SIGKILL");
    await ended;
  };
  for (let i = 0; i < 300 && leader === undefined; i++) {
    if (child.exitCode !== null) throw new Error(`systemd-nspawn ended (${child.exitCode}): ${output}`);
    // setpriv execs nspawn (same pid); its child becomes the container's PID 1, then execs systemd
    const init = child.pid === undefined ? undefined : containerInit(child.pid);
    if (init !== undefined && readFileSync(`/proc/${init}/comm`, "utf8") === "systemd\n") leader = init;
    else await new Promise((r) => setTimeout(r, 100));
  }
  if (leader === undefined) {
    await stop();
    throw new Error(`no systemd in the container after 30 s: ${output}`);
  }
  const pid = leader;
  return {
    leader: pid,
    exec: (command, options) =>
      run("nsenter", [`--target=${pid}`, "--all", "--", "/usr/bin/env", "-i", PATH, "LANG=C.UTF-8", ...command], options),
    console: () => output,
    stop,
  };
}
