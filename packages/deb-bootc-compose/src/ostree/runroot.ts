import type { Logger } from "@debian-bootc/core";
import { type BindMount, type RunInEnvironmentResult, runInEnvironment } from "@debian-bootc/deb-mock";

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
  /** The host's network for the commands (a registry to push to, a channel to pull from); default none. */
  network?: boolean;
  logger?: Logger;
  signal?: AbortSignal;
  onOutput?: (chunk: Buffer) => void;
  timeoutMs?: number;
}

/**
 * One runroot. Its packages come from a deb-mock layer cached per exact set of .debs: the first call with a
 * set installs it, later ones (until the suite's index changes) stack the layer and install nothing.
 */
async function runroot(commands: ReadonlyArray<readonly string[]>, options: RunrootOptions): Promise<RunInEnvironmentResult> {
  const packages = options.packages ?? ["ostree"];
  const result = await runInEnvironment({
    profile: options.profile,
    packages,
    binds: options.binds,
    network: options.network,
    commands,
    logger: options.logger,
    signal: options.signal,
    onOutput: (chunk) => options.onOutput?.(chunk),
    timeoutMs: options.timeoutMs,
  });
  const layer = result.packagesLayer;
  if (layer) {
    options.logger?.debug(
      { packages, layer: layer.dir, reused: layer.reused },
      layer.reused ? "runroot packages: cached layer reused" : "runroot packages: installed into a new cached layer",
    );
  }
  return result;
}

export async function runrootScript(script: string, args: readonly string[], options: RunrootOptions): Promise<string> {
  const result = await runroot([["/bin/sh", "-euc", script, "deb-bootc-compose", ...args]], options);
  return result.results[0]?.stdout ?? "";
}

/** Several argv commands in one runroot (one package installation); the stdout of each. */
export async function runrootCommands(commands: ReadonlyArray<readonly string[]>, options: RunrootOptions): Promise<string[]> {
  const result = await runroot(commands, options);
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
