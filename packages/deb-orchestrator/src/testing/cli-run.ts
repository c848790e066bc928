// Test support (not shipped): the client CLI run in-process against a hub, its output captured.
import { memoryOutput, runCli } from "@debian-bootc/core";
import { tool } from "../tool.js";

export interface CliRun {
  code: number;
  /** Lines written to stdout (a --json value as one line), joined. */
  out: string;
  /** Warnings and errors, joined. */
  err: string;
  /** The first --json value written, if any. */
  json: unknown;
}

/** `deb-orchestrator --hub URL --token-file FILE ARGS...`, run in this process. */
export function cliAgainst(hubUrl: string, tokenFile: string): (...args: string[]) => Promise<CliRun> {
  return async (...args) => {
    const out = memoryOutput();
    const code = await runCli(tool, ["--hub", hubUrl, "--token-file", tokenFile, ...args], out);
    return { code, out: out.text.join("\n"), err: out.errors.join("\n"), json: out.values[0] };
  };
}
