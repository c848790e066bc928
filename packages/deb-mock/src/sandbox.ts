import { spawn } from "node:child_process";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunOptions, type RunResult, run } from "@debian-bootc/core";
import { type IdRange, idRange, RANGE_SIZE } from "./id-range.js";
import { seccompProgram } from "./seccomp-filter.js";

/** A bind mount into the environment. */
export interface BindMount {
  source: string;
  /** Absolute path inside the environment. */
  target: string;
  readOnly?: boolean;
}

export type SandboxRoot =
  /**
   * An overlayfs of the lower directories (first = top) with a writable upper directory. Every directory
   * here must be owned by the id range (the upper, work and mountpoint directories by its root).
   */
  | { kind: "overlay"; lower: readonly string[]; upper: string; work: string; mountpoint: string }
  /** A plain directory tree owned by the id range on disk (its root directory by the range's root), used read-write. */
  | { kind: "directory"; path: string };

export interface SandboxSpec {
  root: SandboxRoot;
  command: readonly string[];
  binds?: readonly BindMount[];
  /** false: an empty network namespace (only lo). true: the host's network and its resolv.conf. */
  network: boolean;
  /** Run as this uid/gid of the environment (with no supplementary groups); its root when absent. */
  user?: { uid: number; gid: number };
  cwd?: string;
  env?: Readonly<Record<string, string>>;
  hostname?: string;
  /** Keep the controlling terminal (interactive shells); otherwise the command gets a new session. */
  interactive?: boolean;
}

export const SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * What the environment's root keeps (of the capabilities it holds in its own user namespace, which count
 * for nothing on the host): enough for apt, dpkg and maintainer scripts (owners, modes, dropping to
 * _apt or a package's user, chroot, file capabilities). Not CAP_SYS_ADMIN (mounts), CAP_MKNOD,
 * CAP_NET_ADMIN/RAW, CAP_SYS_PTRACE, CAP_SYS_MODULE, CAP_SYS_RAWIO, nor the others.
 */
export const ROOT_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_SETFCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_AUDIT_WRITE",
] as const;

/** The fd on which bubblewrap reads the seccomp program (opened by STAGE_SCRIPT). */
const SECCOMP_FD = "9";

// Runs as the caller on the host (for root, in a private mount namespace of its own): opens the
// seccomp program ($1) on fd 9; then, when there are bind sources, mounts a tmpfs on the staging
// directory ($2) and bind-mounts the $3 sources that follow on STAGING/0, STAGING/1, ... and becomes
// the next command (`unshare` into the user namespace). The environment's root then finds every bind
// source at a path it can reach, whatever the permissions of the directories above the source (a
// compose's private work directory, for one). Constant text: paths are arguments.
const STAGE_SCRIPT = `exec ${SECCOMP_FD}<"$1" || exit 125
stage=$2 n=$3 i=0
shift 3
[ "$n" -eq 0 ] || mount -t tmpfs -o mode=0755 deb-mock-binds "$stage" || exit 125
while [ "$i" -lt "$n" ]; do
  if [ -d "$1" ]; then mkdir "$stage/$i"; else : >"$stage/$i"; fi || exit 125
  mount --rbind -- "$1" "$stage/$i" || exit 125
  i=$((i + 1))
  shift
done
exec "$@"`;

// Runs as the root of the new user namespace, in its new private mount namespace: mounts the overlay
// (when $1 is not empty), then becomes bubblewrap. Constant text: values are positional arguments.
const SANDBOX_SCRIPT = `[ -z "$1" ] || mount -t overlay -o "$1" deb-mock "$2" || exit 125; shift 2; exec "$@"`;

/**
 * The `unshare` prefix that enters a new user namespace mapping ids 0..65535 to the range (through
 * newuidmap/newgidmap, which check /etc/subuid and /etc/subgid) and becomes its root, with a private
 * mount namespace. With `mapCaller`, the caller's own uid and gid are mapped too, as id 65536 (never
 * for root: the host's root stays outside every environment).
 */
export function userNamespacePrefix(range: IdRange, options: { mapCaller?: boolean } = {}): string[] {
  const maps = [`--map-users=${range.uid.start},0,${RANGE_SIZE}`, `--map-groups=${range.gid.start},0,${RANGE_SIZE}`];
  if (options.mapCaller && range.caller.uid !== 0) maps.push(`--map-user=${RANGE_SIZE}`, `--map-group=${RANGE_SIZE}`);
  return ["unshare", ...maps, "--setuid=0", "--setgid=0", "--mount", "--propagation=private", "--"];
}

/** This process's sandbox files: the compiled seccomp program and the (empty) staging directory. */
export interface SandboxFiles {
  seccomp: string;
  stage: string;
}

let sandboxFiles: SandboxFiles | undefined;

/** True while a process with this id exists (EPERM: it exists but is not ours). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the sandbox directories of this user's processes that died without their exit handler (SIGKILL,
 * test workers). Another user's are left alone: they are not ours to remove (and we could not).
 */
export function removeStaleSandboxDirs(parent = tmpdir()): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const pid = Number(/^deb-mock-sandbox-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid || processAlive(pid)) continue;
    const path = join(parent, name);
    try {
      if (lstatSync(path).uid === uid) rmSync(path, { recursive: true, force: true });
    } catch {
      // gone meanwhile, or not removable: it is only clutter, never a reason to fail a build
    }
  }
}

/** Made once per process in a fresh private directory named by the process id (removed at exit, or by the next process). */
function processSandboxFiles(): SandboxFiles {
  if (sandboxFiles) return sandboxFiles;
  removeStaleSandboxDirs();
  const dir = mkdtempSync(join(tmpdir(), `deb-mock-sandbox-${process.pid}-`));
  // the environment's root (an unprivileged host uid) opens the program and reaches the staging directory
  chmodSync(dir, 0o755);
  const seccomp = join(dir, "filter.bpf");
  writeFileSync(seccomp, seccompProgram(), { mode: 0o644 });
  const stage = join(dir, "binds");
  mkdirSync(stage, { mode: 0o755 });
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  sandboxFiles = { seccomp, stage };
  return sandboxFiles;
}

/**
 * The argv that runs a command in an isolated environment:
 * 1. `unshare` (userNamespacePrefix): a user namespace whose root is the first id of the caller's
 *    subordinate range, so nothing inside holds a capability on the host, and a private mount namespace
 *    (the overlay mount vanishes with its last process, even after SIGKILL);
 * 2. the overlay mount, as that root;
 * 3. bubblewrap: own PID, IPC, UTS and (unless `network`) network namespaces, /proc, a minimal /dev
 *    (null, zero, full, random, urandom, tty, pts, shm), tmpfs /tmp, /sys read-only, the bind mounts,
 *    the capability set ROOT_CAPABILITIES (none for the build user, dropped to with setpriv: a change
 *    from uid 0 to another clears them all), and the
 *    seccomp filter (seccomp-filter.ts).
 */
export function sandboxArgv(spec: SandboxSpec, range: IdRange, files: SandboxFiles): string[] {
  const bwrap: string[] = ["bwrap"];
  const rootPath = spec.root.kind === "overlay" ? spec.root.mountpoint : spec.root.path;
  bwrap.push("--bind", rootPath, "/");
  bwrap.push("--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm");
  // sysfs read-only, as sbuild binds it: builds and test suites read CPU topology and limits from it
  bwrap.push("--ro-bind", "/sys", "/sys");
  bwrap.push("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", spec.hostname ?? "deb-mock");
  if (!spec.network) bwrap.push("--unshare-net");
  else bwrap.push("--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf");
  // root stages the bind sources (STAGE_SCRIPT); an ordinary user's own directories are bound by path
  const staged = range.caller.uid === 0 ? (spec.binds ?? []) : [];
  for (const [i, bind] of (spec.binds ?? []).entries()) {
    const source = staged.length ? join(files.stage, String(i)) : bind.source;
    bwrap.push(bind.readOnly ? "--ro-bind" : "--bind", source, bind.target);
  }
  bwrap.push("--die-with-parent");
  if (!spec.interactive) bwrap.push("--new-session");
  bwrap.push("--cap-drop", "ALL");
  // setpriv needs CAP_SETUID and CAP_SETGID for the drop to the build user, which clears every capability
  for (const cap of spec.user ? ["CAP_SETUID", "CAP_SETGID"] : ROOT_CAPABILITIES) bwrap.push("--cap-add", cap);
  bwrap.push("--seccomp", SECCOMP_FD);
  bwrap.push("--clearenv");
  const env: Record<string, string> = { PATH: SANDBOX_PATH, LC_ALL: "C.UTF-8", ...spec.env };
  for (const [k, v] of Object.entries(env)) bwrap.push("--setenv", k, v);
  if (spec.cwd) bwrap.push("--chdir", spec.cwd);
  bwrap.push("--");
  if (spec.user) bwrap.push("setpriv", `--reuid=${spec.user.uid}`, `--regid=${spec.user.gid}`, "--clear-groups", "--");
  bwrap.push(...spec.command);
  const overlay =
    spec.root.kind === "overlay"
      ? `lowerdir=${spec.root.lower.join(":")},upperdir=${spec.root.upper},workdir=${spec.root.work},userxattr`
      : "";
  const stage = [
    "sh",
    "-c",
    STAGE_SCRIPT,
    "deb-mock-stage",
    files.seccomp,
    files.stage,
    String(staged.length),
    ...staged.map((b) => b.source),
  ];
  return [
    ...(staged.length ? ["unshare", "--mount", "--propagation=private", "--"] : []),
    ...stage,
    ...[...userNamespacePrefix(range), "sh", "-c", SANDBOX_SCRIPT, "deb-mock-sandbox", overlay, rootPath],
    ...bwrap,
  ];
}

/** core's run() options that mean the same in the sandbox (its program, cwd and environment are the sandbox's). */
export type SandboxRunOptions = Pick<
  RunOptions,
  "signal" | "logger" | "onStdout" | "onStderr" | "captureStdout" | "okCodes" | "timeoutMs" | "input"
>;

/**
 * Run a command in a rootless sandbox (see sandboxArgv) over an overlay or a directory tree owned by the
 * caller's subordinate id range (`idRange()`); a non-zero exit is core's COMMAND_FAILED carrying the exit
 * code. This is the primitive every deb-mock environment and runroot uses; other tools (the compose's
 * chroot steps) use it for trees they keep owned by the range (see `shiftTreeIntoRange`).
 */
export async function runSandboxed(spec: SandboxSpec, options: SandboxRunOptions = {}): Promise<RunResult> {
  const [program, ...args] = sandboxArgv(spec, await idRange(), processSandboxFiles());
  return run(program!, args, { ...options, debianPackage: "bubblewrap" });
}

/**
 * Run a command in the sandbox on the caller's terminal (the `shell` verb). core's `run()` pipes
 * stdio, which an interactive shell cannot use, so this spawns with inherited stdio; returns the exit code.
 */
export async function runSandboxedInteractive(spec: SandboxSpec, signal?: AbortSignal): Promise<number> {
  const [program, ...args] = sandboxArgv({ ...spec, interactive: true }, await idRange(), processSandboxFiles());
  return new Promise((resolve, reject) => {
    const child = spawn(program!, args, { stdio: "inherit", signal });
    child.on("error", reject);
    child.on("close", (code, sig) => resolve(code ?? (sig ? 128 : 1)));
  });
}
