import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type RunResult, run } from "@debian-bootc/core";

// System-tier helper: an ordinary host user with subordinate ranges, and ways to run deb-mock as it
// (from the sources, as the tests run them). Needs root.

export interface OrdinaryUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** The first id of its /etc/subuid range (the environments' root on the host). */
  subuidStart: number;
}

const repoRoot = join(import.meta.dirname, "..", "..", "..", "..");

/** `deb-mock-tester`, created with useradd when missing (useradd gives it /etc/subuid and /etc/subgid ranges). */
export async function ordinaryUser(): Promise<OrdinaryUser> {
  const name = "deb-mock-tester";
  const known = await run("id", ["-u", name], { okCodes: [1] });
  if (known.code !== 0) await run("useradd", ["--create-home", "--shell", "/bin/sh", name]);
  const uid = Number((await run("id", ["-u", name])).stdout.trim());
  const gid = Number((await run("id", ["-g", name])).stdout.trim());
  const home = (await run("sh", ["-c", 'getent passwd "$1" | cut -d: -f6', "sh", name])).stdout.trim();
  const entry = (await readFile("/etc/subuid", "utf8")).split("\n").find((l) => l.startsWith(`${name}:`));
  if (!entry) throw new Error(`${name} has no /etc/subuid range`);
  return { name, uid, gid, home, subuidStart: Number(entry.split(":")[1]) };
}

/** Run node with the sources' loader as the user (HOME its own), from the repository root; any exit code. */
export function nodeAsUser(user: OrdinaryUser, nodeArgs: readonly string[], options: { input?: string } = {}): Promise<RunResult> {
  return run(
    "runuser",
    ["-u", user.name, "--", "env", `HOME=${user.home}`, process.execPath, "--conditions=source", "--import", "tsx", ...nodeArgs],
    { cwd: repoRoot, okCodes: Array.from({ length: 255 }, (_, i) => i + 1), ...options },
  );
}

/** The deb-mock CLI (from the sources) as the user. */
export function debMockAsUser(user: OrdinaryUser, args: readonly string[], options: { input?: string } = {}): Promise<RunResult> {
  return nodeAsUser(user, [join(import.meta.dirname, "..", "cli.ts"), ...args], options);
}
