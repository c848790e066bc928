import { spawn } from "node:child_process";
import { coreError } from "./errors.js";
import type { Logger } from "./logger.js";

export interface RunOptions {
  cwd?: string;
  /** Environment for the child; defaults to the parent's. */
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is otherwise closed. */
  input?: string | Buffer;
  /** Kill the child (and its process group) after this many milliseconds. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * On abort or timeout, SIGTERM the process group and SIGKILL it only after this many milliseconds (or
   * once the child has exited, for what it left behind), so a program can clean up (unmount, kill its own
   * children). Without it the group is SIGKILLed at once.
   */
  terminateGraceMs?: number;
  /** Streamed output: each chunk as it arrives (for build logs and progress). */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Keep stdout in memory for the result (default true). Turn off for large streamed output. */
  captureStdout?: boolean;
  /** Treat these exit codes as success as well as 0. */
  okCodes?: number[];
  logger?: Logger;
  /** Debian package that provides the program, named in the hint when it is missing. */
  debianPackage?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const STDERR_TAIL_BYTES = 4000;

/**
 * The one way this project starts programs: argv arrays, never shell strings; the command line is
 * logged; a non-zero exit becomes COMMAND_FAILED with the tail of stderr; timeouts and aborts kill
 * the whole process group so no grandchild outlives us.
 */
/** How long output may still arrive through pipes a child's leftover processes hold after it exited. */
const LEFTOVER_OUTPUT_GRACE_MS = 5_000;

export function run(program: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const fullCommandLine = [program, ...args].map(quoteForLog).join(" ");
  options.logger?.debug({ cmd: fullCommandLine, cwd: options.cwd }, "run");
  // error messages carry a readable prefix; the log has the whole line
  const commandLine = fullCommandLine.length > 400 ? `${fullCommandLine.slice(0, 400)} …` : fullCommandLine;
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(coreError("INTERRUPTED", `not started: ${commandLine}`));
      return;
    }
    const child = spawn(program, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true, // own process group, so a kill reaches grandchildren too
    });
    const stdout: Buffer[] = [];
    let stderr = Buffer.alloc(0);
    let stderrAll: Buffer[] = [];
    let killedFor: "timeout" | "abort" | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const signalGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    const killGroup = () => {
      if (options.terminateGraceMs === undefined) return signalGroup("SIGKILL");
      signalGroup("SIGTERM");
      killTimer = setTimeout(() => signalGroup("SIGKILL"), options.terminateGraceMs);
    };
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            killedFor = "timeout";
            killGroup();
          }, options.timeoutMs);
    const onAbort = () => {
      if (killedFor) return;
      killedFor = "abort";
      killGroup();
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });

    child.stdout.on("data", (chunk: Buffer) => {
      if (options.captureStdout !== false) stdout.push(chunk);
      options.onStdout?.(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderrAll.push(chunk);
      if (stderrAll.length > 64) {
        // keep memory bounded: only the tail matters for errors
        stderr = Buffer.concat([stderr, ...stderrAll]).subarray(-1_000_000);
        stderrAll = [];
      }
      options.onStderr?.(chunk);
    });
    child.stdin.on("error", () => {
      // the child may exit without reading its input; the exit code tells the story
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();

    const finish = () => {
      if (timer !== undefined) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (killTimer !== undefined) clearTimeout(killTimer);
    };
    child.on("error", (error: NodeJS.ErrnoException) => {
      finish();
      if (error.code === "ENOENT") {
        reject(
          coreError("COMMAND_NOT_FOUND", `${program}: command not found`, {
            hint: options.debianPackage ? `install it with: apt-get install ${options.debianPackage}` : undefined,
            cause: error,
          }),
        );
      } else reject(coreError("COMMAND_FAILED", `${commandLine}: ${error.message}`, { cause: error }));
    });
    // A process the child left behind may hold its output pipes open for ever (util-linux's unshare leaves
    // its id-mapping helper waiting when unshare(2) fails): once the child has exited, its status is
    // what counts, so after a grace for the last output the pipes are closed and the result settles.
    child.on("exit", () => {
      if (killTimer !== undefined) {
        // told to stop and gone: whatever it left in its group goes now, not after the grace
        clearTimeout(killTimer);
        signalGroup("SIGKILL");
      }
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, LEFTOVER_OUTPUT_GRACE_MS).unref();
    });
    child.on("close", (code, signal) => {
      finish();
      const errText = Buffer.concat([stderr, ...stderrAll]).toString("utf8");
      const result: RunResult = { code: code ?? 128, stdout: Buffer.concat(stdout).toString("utf8"), stderr: errText };
      if (killedFor === "timeout") {
        reject(coreError("COMMAND_TIMEOUT", `${commandLine}: killed after ${options.timeoutMs} ms`));
      } else if (killedFor === "abort") {
        reject(coreError("INTERRUPTED", `${commandLine}: interrupted`));
      } else if (code === 0 || (code !== null && options.okCodes?.includes(code))) {
        resolve(result);
      } else {
        const tail = errText.length > STDERR_TAIL_BYTES ? `…${errText.slice(-STDERR_TAIL_BYTES)}` : errText;
        const how = code === null ? `killed by ${signal}` : `exit code ${code}`;
        reject(
          coreError("COMMAND_FAILED", `${commandLine} failed (${how})${tail.trim() ? `:\n${tail.trimEnd()}` : ""}`, {
            details: { program, exitCode: result.code },
          }),
        );
      }
    });
  });
}

/** Render an argv element for a log line so it can be pasted into a shell. */
export function quoteForLog(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}
