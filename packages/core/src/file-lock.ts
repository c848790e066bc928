import { spawn } from "node:child_process";
import { mkdir, open } from "node:fs/promises";
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
    await new Promise<void>((resolve, reject) => {
      if (options.signal?.aborted) {
        reject(coreError("INTERRUPTED", `interrupted while waiting for ${path}`));
        return;
      }
      const seconds = Math.max(0, options.timeoutMs / 1000).toFixed(1);
      const child = spawn("flock", [options.shared ? "--shared" : "--exclusive", "--wait", seconds, "--conflict-exit-code", "75", "3"], {
        stdio: ["ignore", "ignore", "pipe", handle.fd],
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
  } catch (error) {
    await handle.close();
    throw error;
  }
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      await handle.close();
    },
  };
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
