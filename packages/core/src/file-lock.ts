import { spawn } from "node:child_process";
import { mkdir, open, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { coreError } from "./errors.js";

export interface HeldLock {
  readonly path: string;
  release(): Promise<void>;
}

export interface LockOptions {
  shared?: boolean;
  /** Give up (LOCKED, exit code 5) after this long. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** What the lock protects, for the error message. */
  what?: string;
  /** The remedy when it stays locked (default: wait for the other process). */
  hint?: string;
  /**
   * For locks held through long work (making a base): the holder touches the lock file this often, and a
   * waiter whose timeout ends while the file was touched within three such periods keeps waiting, so a
   * slow but live holder is waited for and only a stuck one makes the waiter give up.
   */
  heartbeatMs?: number;
  /** Told each time a waiter keeps waiting for a live holder. */
  onStillWaiting?: (message: string) => void;
}

/**
 * A kernel flock(2) lock on `path`. Node has no flock, so util-linux `flock` takes it on a file
 * descriptor we open and pass down: the lock belongs to that open file description, stays held after
 * `flock` exits and is released when we close it, or by the kernel when this process dies. So a killed
 * process (deb-mock, a compose) never leaves a stale lock behind. (This is the one subprocess not started
 * by `run()`: it needs an inherited file descriptor, which `run()` does not offer.)
 */
export async function acquireLock(path: string, options: LockOptions): Promise<HeldLock> {
  await mkdir(dirname(path), { recursive: true });
  const handle = await open(path, "a", 0o644);
  try {
    for (;;) {
      try {
        await flockOnce(path, handle.fd, options);
        break;
      } catch (error) {
        if (!(await holderBeating(path, error, options))) throw error;
        options.onStillWaiting?.(`${options.what ?? path} is still being worked on by another process; waiting`);
      }
    }
  } catch (error) {
    await handle.close();
    throw error;
  }
  const touch = () => {
    const now = new Date();
    handle.utimes(now, now).catch(() => {});
  };
  if (options.heartbeatMs) touch();
  const heartbeat = options.heartbeatMs ? setInterval(touch, options.heartbeatMs).unref() : undefined;
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      await handle.close();
    },
  };
}

/** After a LOCKED timeout: did the holder touch the lock file recently (see LockOptions.heartbeatMs)? */
async function holderBeating(path: string, error: unknown, options: LockOptions): Promise<boolean> {
  if (!options.heartbeatMs || (error as { code?: string }).code !== "LOCKED") return false;
  const touched = await stat(path).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  return Date.now() - touched < 3 * options.heartbeatMs;
}

function flockOnce(path: string, fd: number, options: LockOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(coreError("INTERRUPTED", `interrupted while waiting for ${path}`));
      return;
    }
    const seconds = Math.max(0, options.timeoutMs / 1000).toFixed(1);
    const child = spawn("flock", [options.shared ? "--shared" : "--exclusive", "--wait", seconds, "--conflict-exit-code", "75", "3"], {
      stdio: ["ignore", "ignore", "pipe", fd],
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const onAbort = () => child.kill("SIGKILL");
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("error", (error) => {
      options.signal?.removeEventListener("abort", onAbort);
      reject(
        coreError("COMMAND_NOT_FOUND", `flock: ${error.message}`, { hint: "install it with: apt-get install util-linux", cause: error }),
      );
    });
    child.on("close", (code) => {
      options.signal?.removeEventListener("abort", onAbort);
      if (code === 0) resolve();
      else if (options.signal?.aborted) reject(coreError("INTERRUPTED", `interrupted while waiting for ${path}`));
      else if (code === 75) {
        reject(
          coreError("LOCKED", `${options.what ?? path} is locked by another process (waited ${seconds} s on ${path})`, {
            hint: options.hint ?? "wait for the other process to finish",
            details: { lock: path },
          }),
        );
      } else reject(coreError("LOCK_FAILED", `flock ${path} failed (exit ${code}): ${stderr.trim()}`));
    });
  });
}

/** Run `fn` while holding the lock; the lock is released however `fn` ends. */
export async function withLock<T>(path: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(path, options);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
