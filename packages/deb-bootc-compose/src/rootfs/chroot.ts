import { mkdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { type Logger, type RunResult, run } from "@debian-bootc/core";
import { giveToRange, idRange, runSandboxed, userNamespacePrefix } from "@debian-bootc/deb-mock";
import { composeError } from "../errors.js";
import type { IdShift } from "./image-root.js";

/**
 * The compose's image trees are made and changed by the image's own programs (mmdebstrap's maintainer
 * scripts, useradd, systemctl, dracut, the definition's postprocess scripts, packages built from users'
 * sources). All of them run in deb-mock's rootless sandbox: a user namespace whose root is the first id
 * of the caller's subordinate range, so nothing they do holds a capability on the host. The tree is
 * therefore owned by that range on disk; `imageIds()` is the shift every host-side reader and writer of
 * a tree uses (ImageRoot, the OCI scan, the disk image).
 */

export interface ChrootRunOptions {
  signal?: AbortSignal;
  logger?: Logger;
  env?: Readonly<Record<string, string>>;
  /** Given to the command on stdin (a postprocess script). */
  input?: string;
  onOutput?: (chunk: Buffer) => void;
  timeoutMs?: number;
}

/** The host ids of the image's uid 0 and gid 0: the caller's subordinate range deb-mock's sandbox maps them to. */
export async function imageIds(): Promise<IdShift> {
  const range = await idRange();
  return { uid: range.uid.start, gid: range.gid.start, count: Math.min(range.uid.count, range.gid.count) };
}

/**
 * Make `dir` (created when missing) a directory the sandbox's root may write to, for a read-write bind
 * into a runroot (an ostree repository, a sysroot): it and everything in it owned by the range's root.
 * What the runroot writes there is owned by the range too, until handBackToCaller.
 */
export async function rangeWritableDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await assertRangeCanEnter(dirname(resolve(dir)));
  await giveToRange([dir], { uid: 0, gid: 0 }, { recursive: true });
}

/** Give a directory runroots wrote (an ostree repository, a result) back to the caller, as deb-mock does with results. */
export async function handBackToCaller(dir: string, options: { logger?: Logger; signal?: AbortSignal } = {}): Promise<void> {
  const { caller } = await idRange();
  await run("chown", ["-R", "--no-dereference", `${caller.uid}:${caller.gid}`, "--", dir], { ...options, debianPackage: "coreutils" });
}

/**
 * The sandbox's root is an ordinary id of the host: it reaches a directory only when every directory
 * on the way lets others in (o+x). A compose under /root or a private temporary directory fails here,
 * naming the directory, instead of with a permission error from deep inside mmdebstrap or bubblewrap.
 */
export async function assertRangeCanEnter(dir: string): Promise<void> {
  const ids = await imageIds();
  for (let at = resolve(dir); ; at = dirname(at)) {
    const st = await stat(at);
    if ((st.mode & 0o001) === 0 && st.uid !== ids.uid) {
      throw composeError(
        "SANDBOX_PATH_UNREACHABLE",
        `${at} (mode ${(st.mode & 0o7777).toString(8)}) does not let other users in, so the image sandbox's root (host uid ${ids.uid}) cannot reach ${dir}`,
        {
          hint: `chmod o+x ${at}, or compose into a directory every user may enter (such as /var/tmp or /srv)`,
        },
      );
    }
    if (at === dirname(at)) break;
  }
}

/**
 * Run a command inside an image tree (owned by the range) in deb-mock's rootless sandbox: the tree as /,
 * its own /proc, a minimal /dev, /sys read-only, tmpfs /tmp, no network, own PID, IPC and UTS
 * namespaces, the sandbox's capability set and seccomp filter. Every mount lives in the sandbox's
 * namespaces, so nothing is left mounted on the host when the command ends or is killed.
 */
export function runInRoot(root: string, command: readonly string[], options: ChrootRunOptions = {}): Promise<RunResult> {
  return runSandboxed(
    {
      root: { kind: "directory", path: root },
      command,
      network: false,
      cwd: "/",
      env: { HOME: "/root", ...options.env },
    },
    {
      signal: options.signal,
      logger: options.logger,
      input: options.input,
      onStdout: options.onOutput,
      onStderr: options.onOutput,
      timeoutMs: options.timeoutMs,
    },
  );
}

/**
 * Run a program (mmdebstrap) as the root of a user namespace mapped to the range, with a private mount
 * namespace: what it creates is owned by the range, and the maintainer scripts it runs in the tree hold
 * no capability on the host. It keeps the host's network (mmdebstrap downloads from the mirror).
 */
export async function runAsRangeRoot(
  program: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal; logger?: Logger; onOutput?: (chunk: Buffer) => void; debianPackage?: string },
): Promise<RunResult> {
  const [unshare, ...prefix] = userNamespacePrefix(await idRange());
  return run(unshare!, [...prefix, program, ...args], {
    env: options.env,
    signal: options.signal,
    logger: options.logger,
    onStdout: options.onOutput,
    onStderr: options.onOutput,
    captureStdout: false,
    debianPackage: options.debianPackage,
  });
}
