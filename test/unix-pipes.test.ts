import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// The three CLIs as Unix tools in a pipe whose reader has gone (`deb-bootc-compose status DIR | head -1`):
// they stop quietly with 141 (128 + SIGPIPE, as a shell reports for coreutils there), not with an
// unhandled EPIPE, a stack trace and exit 1.
const root = join(import.meta.dirname, "..");
const cli = (pkg: string) => join(root, "packages", pkg, "src", "cli.ts");

interface Ended {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a CLI from sources; with `closeStdout` the read end of its stdout pipe is closed before it writes. */
function run(pkg: string, args: string[], closeStdout: boolean): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", cli(pkg), ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    if (closeStdout) child.stdout.destroy();
    else child.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the CLIs in a pipe whose reader has gone", () => {
  it.each([
    ["deb-mock", ["--help"]],
    ["deb-orchestrator", ["--help"]],
    ["deb-bootc-compose", ["--help"]],
    ["deb-bootc-compose", ["validate", "examples/minimal.yaml"]],
  ])("%s %s ends quietly with 141", async (pkg, args) => {
    const ended = await run(pkg, args, true);
    expect(ended.stderr).toBe("");
    expect(ended.code).toBe(141);
  });

  it("prints and exits 0 while the reader stays", async () => {
    const ended = await run("deb-bootc-compose", ["validate", "examples/minimal.yaml"], false);
    expect(ended.stderr).toBe("");
    expect(ended.code).toBe(0);
    expect(ended.stdout).toMatch(/minimal/);
  });
});
