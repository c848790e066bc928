import { isCodedError, type Logger, run } from "@debian-bootc/core";

/** The deb-bootc-compose commands a builder runs in a prepared W: a compose's image phases, its disk images, its update boot test. */
export type ImageVerb = "image-task" | "disk-image" | "update-test";

export interface ImageRunRequest {
  /** composeImage: image-task; diskImage: disk-image; updateTest: update-test. */
  verb: ImageVerb;
  /** W, prepared (image-work-dir.ts, update-work-dir.ts) with an empty out/. */
  workDir: string;
  /** Live image log: every chunk of the command's stdout and stderr. */
  log(chunk: string | Buffer): void;
  signal: AbortSignal;
}

/** ok: W/out/result.json is written; otherwise the command's coded error. */
export type ImageRunOutcome = { ok: true } | { ok: false; error: { code: string; message: string } };

/** What the builder calls to run a compose's image phases or update test in W. deb-bootc-compose is the real one. */
export interface ImageRunner {
  readonly name: string;
  run(request: ImageRunRequest): Promise<ImageRunOutcome>;
}

export interface ComposeCliImageRunnerOptions {
  /** The program and any leading arguments (default: deb-bootc-compose on PATH). */
  command?: readonly string[];
  /** The compose cache shared by every task (rootfs trees, runroot); default: the command's own. */
  cacheDir?: string;
  /** After SIGTERM, how long the command may take to stop before its process group is SIGKILLed (default 30 s). */
  terminateGraceMs?: number;
  logger?: Logger;
}

/** The most of stdout kept for reading the command's --json error (the whole is in the live log). */
const STDOUT_TAIL_BYTES = 256 * 1024;
const errorCode = /^[A-Z][A-Z0-9_]{0,63}$/;

/**
 * The coded error `--json` prints on failure ({ok: false, error: {code, message}}), from the end of
 * stdout; undefined when there is none (the command crashed, or is not ours).
 */
export function codedErrorOf(stdout: string): { code: string; message: string } | undefined {
  const text = stdout.trim();
  const starts = [0, text.lastIndexOf("\n{") + 1];
  for (const start of starts) {
    try {
      const json = JSON.parse(text.slice(start)) as { error?: { code?: unknown; message?: unknown } };
      const { code, message } = json.error ?? {};
      if (typeof code === "string" && errorCode.test(code) && typeof message === "string") return { code, message: message.slice(0, 4000) };
    } catch {
      // not (only) the error document
    }
  }
  return undefined;
}

/**
 * Runs `deb-bootc-compose image-task|disk-image|update-test W --json` in its own process group: output streamed to the live
 * log, its coded error on failure; on abort the group gets SIGTERM, then SIGKILL after the grace; if the
 * builder dies, the command gets SIGTERM.
 */
export class ComposeCliImageRunner implements ImageRunner {
  readonly name = "deb-bootc-compose";
  private readonly command: readonly string[];

  constructor(private readonly options: ComposeCliImageRunnerOptions = {}) {
    this.command = options.command?.length ? options.command : ["deb-bootc-compose"];
  }

  async run(request: ImageRunRequest): Promise<ImageRunOutcome> {
    // setpriv --pdeathsig: a builder that dies (SIGKILL, OOM) takes its command with it (SIGTERM, so it
    // unmounts), instead of leaving an orphan building an image nobody collects, holding the compose cache
    const args = [
      "--pdeathsig",
      "TERM",
      "--",
      ...this.command,
      request.verb,
      request.workDir,
      ...(this.options.cacheDir && request.verb === "image-task" ? ["--cache-dir", this.options.cacheDir] : []),
      "--json",
    ];
    let stdout = "";
    try {
      await run("setpriv", args, {
        debianPackage: "util-linux",
        signal: request.signal,
        terminateGraceMs: this.options.terminateGraceMs ?? 30_000,
        captureStdout: false,
        onStdout: (chunk) => {
          request.log(chunk);
          stdout = (stdout + chunk.toString("utf8")).slice(-STDOUT_TAIL_BYTES);
        },
        onStderr: (chunk) => request.log(chunk),
        ...(this.options.logger ? { logger: this.options.logger } : {}),
      });
      return { ok: true };
    } catch (error) {
      if (request.signal.aborted || isCodedError(error, "INTERRUPTED")) throw error;
      const coded = codedErrorOf(stdout);
      if (coded) return { ok: false, error: coded };
      return { ok: false, error: { code: "IMAGE_TASK_FAILED", message: (error as Error).message.slice(0, 4000) } };
    }
  }
}
