// Subprocesses for the benchmarks: argv arrays only (never a shell string), wall-clock timing,
// output either captured or streamed to a log file. The benchmarks are plain Node ESM that must run
// without a build, so they cannot use @debian-bootc/core's run() (which lives in a compiled package).
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";

const active = new Set();
let signalsHooked = false;

/** On SIGINT/SIGTERM, pass SIGTERM to every running child's process group, then exit 130. */
function hookSignals() {
  if (signalsHooked) return;
  signalsHooked = true;
  const stop = (sig) => {
    process.stderr.write(`\n${sig}: stopping ${active.size} running command(s)\n`);
    for (const child of active) killGroup(child, "SIGTERM");
    setTimeout(() => process.exit(130), 2000).unref();
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Runs `argv[0]` with `argv.slice(1)` in its own process group and resolves (never rejects on a
 * non-zero exit) with { code, signal, seconds, stdout, stderr, timedOut }. With `logFile`, stdout
 * and stderr are appended to that file instead of kept in memory (stdout/stderr are then empty).
 * With `timeoutMs`, the whole process group is killed (SIGTERM, then SIGKILL 10 s later).
 */
export function runCommand(argv, { cwd, env, logFile, input, timeoutMs } = {}) {
  hookSignals();
  const [program, ...args] = argv;
  if (!program) throw new Error("runCommand: empty argv");
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const log = logFile ? createWriteStream(logFile, { flags: "a" }) : undefined;
    const child = spawn(program, args, {
      cwd,
      env: env ?? process.env,
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      detached: true,
    });
    active.add(child);
    let timedOut = false;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            killGroup(child, "SIGTERM");
            setTimeout(() => killGroup(child, "SIGKILL"), 10_000).unref();
          }, timeoutMs);
    const out = [];
    const err = [];
    child.stdout.on("data", (chunk) => (log ? log.write(chunk) : out.push(chunk)));
    child.stderr.on("data", (chunk) => (log ? log.write(chunk) : err.push(chunk)));
    if (input !== undefined) child.stdin.end(input);
    child.on("error", (error) => {
      active.delete(child);
      clearTimeout(timer);
      log?.end();
      reject(new Error(`cannot start ${program}: ${error.message}`, { cause: error }));
    });
    child.on("close", (code, signal) => {
      active.delete(child);
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const result = {
        code: code ?? -1,
        signal,
        seconds,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        timedOut,
      };
      if (log) log.end(() => resolve(result));
      else resolve(result);
    });
  });
}

/** Like runCommand, but a non-zero exit throws an Error naming the command and the tail of its stderr. */
export async function runChecked(argv, options = {}) {
  const result = await runCommand(argv, options);
  if (result.code !== 0) {
    const where = options.logFile ? ` (log: ${options.logFile})` : "";
    const tail = result.stderr.trim().split("\n").slice(-15).join("\n");
    const how = result.timedOut ? "timed out" : `exited with ${result.code}`;
    throw new Error(`${argv.join(" ")} ${how}${where}${tail ? `\n${tail}` : ""}`);
  }
  return result;
}
