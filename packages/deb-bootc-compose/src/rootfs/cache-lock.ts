import { spawn } from "node:child_process";
import { mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";
import { coreError } from "@debian-bootc/core";
import { composeError } from "../errors.js";

export interface CacheLockOptions {
  shared?: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
  /** What the lock protects, for the error message. */
  what: string;
}

/**
 * A kernel flock(2) lock on `path`, held for the length of `fn`. Node has no flock, so util-linux `flock`
 * takes it on a file descriptor we open and pass down: the lock belongs to that open file description
 * and is released when we close it, or by the kernel when this process dies, so a killed compose never
 * leaves a stale lock. (Like deb-mock's cache lock, this is the one subprocess not started by core's
 * `run()`: it needs an inherited file descriptor.)
 */
export async function withCacheLock<T>(path: string, options: CacheLockOptions, fn: () => Promise<T>): Promise<T> {
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
        else if (code === 75)
          reject(
            composeError("ROOTFS_CACHE_FAILED", `${options.what} stayed locked by another compose for ${seconds} s (${path})`, {
              hint: "wait for the other compose to finish, or run with --no-rootfs-cache",
            }),
          );
        else reject(composeError("ROOTFS_CACHE_FAILED", `flock ${path} failed (exit ${code}): ${stderr.trim()}`));
      });
    });
    return await fn();
  } finally {
    await handle.close();
  }
}
