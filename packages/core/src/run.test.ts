import { describe, expect, it } from "vitest";
import { isCodedError } from "./errors.js";
import { quoteForLog, run } from "./run.js";

describe("run", () => {
  it("returns stdout and streams chunks", async () => {
    const chunks: string[] = [];
    const result = await run("sh", ["-c", "echo one; echo two"], { onStdout: (c) => chunks.push(c.toString()) });
    expect(result.stdout).toBe("one\ntwo\n");
    expect(chunks.join("")).toBe("one\ntwo\n");
  });

  it("passes arguments without a shell", async () => {
    const result = await run("printf", ["%s|", "a b", "$(echo no)", "'q'"]);
    expect(result.stdout).toBe("a b|$(echo no)|'q'|");
  });

  it("feeds stdin", async () => {
    expect((await run("cat", [], { input: "hello" })).stdout).toBe("hello");
  });

  it("turns a non-zero exit into COMMAND_FAILED with the tail of stderr", async () => {
    const error = await run("sh", ["-c", "echo bad thing >&2; exit 3"]).catch((e: unknown) => e);
    expect(isCodedError(error, "COMMAND_FAILED")).toBe(true);
    expect((error as Error).message).toMatch(/exit code 3[\s\S]*bad thing/);
  });

  it("shortens a very long command line in the error message", async () => {
    const error = await run("sh", ["-c", "exit 1", "x".repeat(5000)]).catch((e: unknown) => e);
    expect((error as Error).message.length).toBeLessThan(600);
    expect((error as Error).message).toMatch(/^sh -c 'exit 1' x+ … failed \(exit code 1\)/);
  });

  it("accepts listed exit codes", async () => {
    expect((await run("sh", ["-c", "exit 2"], { okCodes: [2] })).code).toBe(2);
  });

  it("names the Debian package of a missing program", async () => {
    const error = await run("no-such-program-xyz", [], { debianPackage: "xyz-tools" }).catch((e: unknown) => e);
    expect(isCodedError(error, "COMMAND_NOT_FOUND")).toBe(true);
    expect((error as { hint: string }).hint).toBe("install it with: apt-get install xyz-tools");
  });

  it("kills the whole process group on timeout", async () => {
    const error = await run("sh", ["-c", "sleep 30 & sleep 30; echo never"], { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(isCodedError(error, "COMMAND_TIMEOUT")).toBe(true);
  });

  it("settles on the exit status when a leftover process keeps the output pipes open", async () => {
    // the leftover holds stdout and stderr for 300 s; the child itself fails at once
    const error = await run("sh", ["-c", "sleep 300 & echo $! >&2; echo unshare failed >&2; exit 1"]).catch((e: unknown) => e);
    expect(isCodedError(error, "COMMAND_FAILED")).toBe(true);
    expect((error as Error).message).toContain("unshare failed");
    const leftover = Number(/^(\d+)$/m.exec((error as Error).message)?.[1]);
    process.kill(leftover, "SIGKILL");
  });

  it("stops on an abort signal", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await run("sleep", ["30"], { signal: controller.signal }).catch((e: unknown) => e);
    expect(isCodedError(error, "INTERRUPTED")).toBe(true);
  });

  it("with terminateGraceMs, lets the program clean up on SIGTERM, then kills what it left behind", async () => {
    const controller = new AbortController();
    let out = "";
    // the leftover ignores SIGTERM (and so holds the output pipes); the program itself cleans up and exits.
    // Its trap is set before it says "leftover" (the abort's cue), or the SIGTERM could come first
    const script = "trap 'echo cleaned up; exit 130' TERM; (trap '' TERM; exec sleep 300) & echo leftover $!; sleep 300 & wait";
    const error = await run("sh", ["-c", script], {
      signal: controller.signal,
      terminateGraceMs: 60_000,
      onStdout: (chunk) => {
        out += chunk.toString();
        if (out.includes("leftover")) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect(isCodedError(error, "INTERRUPTED")).toBe(true);
    expect(out).toContain("cleaned up");
    await expectGone(Number(/leftover (\d+)/.exec(out)?.[1]));
  });

  it("with terminateGraceMs, SIGKILLs a program that ignores SIGTERM once the grace is over", async () => {
    const controller = new AbortController();
    let out = "";
    const error = await run("sh", ["-c", "trap '' TERM; echo pid $$; sleep 300"], {
      signal: controller.signal,
      terminateGraceMs: 200,
      onStdout: (chunk) => {
        out += chunk.toString();
        if (out.includes("pid")) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect(isCodedError(error, "INTERRUPTED")).toBe(true);
    await expectGone(Number(/pid (\d+)/.exec(out)?.[1]));
  });

  it("quotes log lines so they can be pasted into a shell", () => {
    expect(quoteForLog("plain-arg=1")).toBe("plain-arg=1");
    expect(quoteForLog("it's here")).toBe("'it'\\''s here'");
  });
});

/** A process that is gone (or a zombie about to be reaped by init). */
async function expectGone(pid: number): Promise<void> {
  expect(pid).toBeGreaterThan(1);
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`process ${pid} still runs`);
}
