import { spawn } from "node:child_process";
import { type Logger, type RunResult, run } from "@debian-bootc/core";

/** A bind mount into the environment. */
export interface BindMount {
  source: string;
  /** Absolute path inside the environment. */
  target: string;
  readOnly?: boolean;
}

export type SandboxRoot =
  /** An overlayfs of the lower directories (first = top) with a writable upper directory. */
  | { kind: "overlay"; lower: readonly string[]; upper: string; work: string; mountpoint: string }
  /** A plain directory, used read-write (only while a base is being made). */
  | { kind: "directory"; path: string };

export interface SandboxSpec {
  root: SandboxRoot;
  command: readonly string[];
  binds?: readonly BindMount[];
  /** false: an empty network namespace (only lo). true: the host's network and its resolv.conf. */
  network: boolean;
  /** Run as this uid/gid (with no supplementary groups); root when absent. */
  user?: { uid: number; gid: number };
  cwd?: string;
  env?: Readonly<Record<string, string>>;
  hostname?: string;
  /** Keep the controlling terminal (interactive shells); otherwise the command gets a new session. */
  interactive?: boolean;
}

export const SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Mounts the overlay inside the private mount namespace `unshare` made, then becomes bubblewrap.
// A constant script: every value reaches it as a positional argument, never as shell text.
const MOUNT_THEN_EXEC = 'mount -t overlay -o "$1" deb-mock "$2" || exit 125; shift 2; exec "$@"';

/**
 * The argv that runs a command in an isolated environment: `unshare --mount` (a private mount namespace,
 * so the overlay mount vanishes with its last process, even after SIGKILL), the overlay mount, then
 * bubblewrap for the rest: own PID, IPC, UTS and (unless `network`) network namespaces, /proc, a minimal
 * /dev with /dev/pts, tmpfs /tmp, a read-only /sys, bind mounts, and the drop to an unprivileged user via
 * setpriv.
 */
export function sandboxArgv(spec: SandboxSpec): string[] {
  const bwrap: string[] = ["bwrap"];
  const rootPath = spec.root.kind === "overlay" ? spec.root.mountpoint : spec.root.path;
  bwrap.push("--bind", rootPath, "/");
  bwrap.push("--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm");
  // sysfs read-only, as sbuild binds it: builds and test suites read CPU topology and limits from it
  bwrap.push("--ro-bind", "/sys", "/sys");
  bwrap.push("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", spec.hostname ?? "deb-mock");
  if (!spec.network) bwrap.push("--unshare-net");
  else bwrap.push("--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf");
  for (const bind of spec.binds ?? []) bwrap.push(bind.readOnly ? "--ro-bind" : "--bind", bind.source, bind.target);
  bwrap.push("--die-with-parent");
  if (!spec.interactive) bwrap.push("--new-session");
  bwrap.push("--clearenv");
  const env: Record<string, string> = { PATH: SANDBOX_PATH, LC_ALL: "C.UTF-8", ...spec.env };
  for (const [k, v] of Object.entries(env)) bwrap.push("--setenv", k, v);
  if (spec.cwd) bwrap.push("--chdir", spec.cwd);
  bwrap.push("--");
  if (spec.user) bwrap.push("setpriv", `--reuid=${spec.user.uid}`, `--regid=${spec.user.gid}`, "--clear-groups", "--");
  bwrap.push(...spec.command);
  if (spec.root.kind === "directory") return bwrap;
  const options = `lowerdir=${spec.root.lower.join(":")},upperdir=${spec.root.upper},workdir=${spec.root.work}`;
  return [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--",
    "sh",
    "-c",
    MOUNT_THEN_EXEC,
    "deb-mock-mount",
    options,
    rootPath,
    ...bwrap,
  ];
}

export interface SandboxRunOptions {
  signal?: AbortSignal;
  logger?: Logger;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  captureStdout?: boolean;
  okCodes?: number[];
  timeoutMs?: number;
  input?: string;
}

/** Run a command in the environment; a non-zero exit is core's COMMAND_FAILED carrying the exit code. */
export function runSandboxed(spec: SandboxSpec, options: SandboxRunOptions = {}): Promise<RunResult> {
  const [program, ...args] = sandboxArgv(spec);
  return run(program!, args, { ...options, debianPackage: "bubblewrap" });
}

/**
 * Run a command in the environment on the caller's terminal (the `shell` verb). core's `run()` pipes
 * stdio, which an interactive shell cannot use, so this spawns with inherited stdio; returns the exit code.
 */
export function runSandboxedInteractive(spec: SandboxSpec, signal?: AbortSignal): Promise<number> {
  const [program, ...args] = sandboxArgv({ ...spec, interactive: true });
  return new Promise((resolve, reject) => {
    const child = spawn(program!, args, { stdio: "inherit", signal });
    child.on("error", reject);
    child.on("close", (code, sig) => resolve(code ?? (sig ? 128 : 1)));
  });
}
