// Test support (not shipped): the client CLI run in-process against a hub, its output captured.
import { type Output, runCli } from "@debian-bootc/core";
import { tool } from "../tool.js";

export interface CliRun {
  code: number;
  /** Lines written to stdout, joined. */
  out: string;
  /** Warnings and errors, joined. */
  err: string;
  /** The first --json value written, if any. */
  json: unknown;
}

/** An Output that keeps what a command writes. */
export function capturedOutput(): Output & { text: string[]; errors: string[]; values: unknown[] } {
  const text: string[] = [];
  const errors: string[] = [];
  const values: unknown[] = [];
  return {
    isTTY: false,
    text,
    errors,
    values,
    line: (t) => text.push(t),
    json: (v) => values.push(v),
    warn: (t) => errors.push(t),
    error: (t) => errors.push(t),
  };
}

/** `deb-orchestrator --hub URL --token-file FILE ARGS...`, run in this process. */
export function cliAgainst(hubUrl: string, tokenFile: string): (...args: string[]) => Promise<CliRun> {
  return async (...args) => {
    const out = capturedOutput();
    const code = await runCli(tool, ["--hub", hubUrl, "--token-file", tokenFile, ...args], out);
    return { code, out: out.text.join("\n"), err: out.errors.join("\n"), json: out.values[0] };
  };
}
