import type { Logger } from "@debian-bootc/core";
import { type BindMount, runInEnvironment } from "@debian-bootc/deb-mock";

/**
 * Commands with the target suite's own ostree (and friends) inside a deb-mock runroot, so the host's
 * ostree version never matters. Scripts are constant text; every value reaches them as a positional
 * argument ("$1", "$@"), never spliced into the script.
 */
export interface RunrootOptions {
  /** deb-mock profile; default debian-trixie-amd64 (the definition's suite decides in the phases). */
  profile?: string;
  packages?: readonly string[];
  binds: readonly BindMount[];
  logger?: Logger;
  signal?: AbortSignal;
  onOutput?: (chunk: Buffer) => void;
  timeoutMs?: number;
}

export async function runrootScript(script: string, args: readonly string[], options: RunrootOptions): Promise<string> {
  const result = await runInEnvironment({
    profile: options.profile,
    packages: options.packages ?? ["ostree"],
    binds: options.binds,
    commands: [["/bin/sh", "-euc", script, "deb-bootc-compose", ...args]],
    logger: options.logger,
    signal: options.signal,
    onOutput: (chunk) => options.onOutput?.(chunk),
    timeoutMs: options.timeoutMs,
  });
  return result.results[0]?.stdout ?? "";
}

/** Several argv commands in one runroot (one package installation); the stdout of each. */
export async function runrootCommands(commands: ReadonlyArray<readonly string[]>, options: RunrootOptions): Promise<string[]> {
  const result = await runInEnvironment({
    profile: options.profile,
    packages: options.packages ?? ["ostree"],
    binds: options.binds,
    commands,
    logger: options.logger,
    signal: options.signal,
    onOutput: (chunk) => options.onOutput?.(chunk),
    timeoutMs: options.timeoutMs,
  });
  return result.results.map((r) => r.stdout);
}

/** The deb-mock profile for a suite and arch (deb-mock ships debian-<suite>-<arch>). */
export function runrootProfile(suite: string, arch: string): string {
  return `debian-${suite}-${arch}`;
}

/** `key=value` lines of a script's stdout. */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([a-z][\w.-]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
