import { type Logger, type RunResult, run } from "@debian-bootc/core";

export const CHROOT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

export interface ChrootRunOptions {
  signal?: AbortSignal;
  logger?: Logger;
  env?: Readonly<Record<string, string>>;
  /** Given to the command on stdin (a postprocess script). */
  input?: string;
  onOutput?: (chunk: Buffer) => void;
  timeoutMs?: number;
}

/**
 * Run a command inside a root tree with bubblewrap: the tree as /, a fresh /proc, a minimal /dev,
 * /sys read-only, tmpfs /tmp and /run, no network, own PID and IPC namespaces. Every mount lives in
 * bubblewrap's namespace, so nothing is left mounted on the host when the command ends or is killed.
 */
export function chrootArgv(root: string, command: readonly string[], env: Readonly<Record<string, string>> = {}): string[] {
  const argv = ["--bind", root, "/", "--proc", "/proc", "--dev", "/dev", "--ro-bind", "/sys", "/sys"];
  argv.push("--tmpfs", "/tmp", "--tmpfs", "/run", "--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts");
  argv.push("--die-with-parent", "--new-session", "--clearenv");
  const all: Record<string, string> = { PATH: CHROOT_PATH, HOME: "/root", LC_ALL: "C.UTF-8", ...env };
  for (const [k, v] of Object.entries(all)) argv.push("--setenv", k, v);
  argv.push("--chdir", "/", "--", ...command);
  return argv;
}

export function runInRoot(root: string, command: readonly string[], options: ChrootRunOptions = {}): Promise<RunResult> {
  return run("bwrap", chrootArgv(root, command, options.env), {
    signal: options.signal,
    logger: options.logger,
    input: options.input,
    onStdout: options.onOutput,
    onStderr: options.onOutput,
    timeoutMs: options.timeoutMs,
    debianPackage: "bubblewrap",
  });
}
