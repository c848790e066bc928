import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bootOnce, lastLines } from "./qemu.js";

// bootOnce around a stand-in qemu-system-x86_64 (first on PATH) that prints a console and then hangs, as a
// guest that can go no further does: what the boot's error then says

let dir: string;
let path: string | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qemu-stand-in-"));
  path = process.env.PATH;
  process.env.PATH = `${dir}:${path}`;
});

afterEach(async () => {
  process.env.PATH = path;
  await rm(dir, { recursive: true, force: true });
});

/** A qemu-system-x86_64 that prints `console` on stdout, then sleeps until it is killed. */
async function standIn(console: string): Promise<void> {
  const script = join(dir, "qemu-system-x86_64");
  await writeFile(script, `#!/bin/sh\nprintf '%s' '${console.replaceAll("'", "'\\''")}'\nexec sleep 60\n`);
  await chmod(script, 0o755);
}

async function failure(timeoutMs: number): Promise<Error & { details?: Record<string, unknown> }> {
  const error = await bootOnce({ disk: join(dir, "disk.qcow2"), format: "qcow2", accel: "tcg", timeoutMs }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isCodedError(error, "BOOT_TEST_FAILED"), String(error)).toBe(true);
  return error as Error & { details?: Record<string, unknown> };
}

describe("bootOnce with a guest that goes no further", () => {
  it("stops at a kernel panic, long before the time limit, and says so with the console's last lines", async () => {
    const lines = Array.from({ length: 40 }, (_, i) => `[    ${i}.000000] line ${i}`);
    // an oops early on, whose first line has scrolled out of the last 15 by the time of the panic
    lines[3] = "[    3.000000] Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI";
    await standIn(
      `${lines.join("\r\n")}\r\n[   40.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\r\n[   40.2] ---[ end trace ]---\r\n`,
    );
    const error = await failure(60_000);
    expect(error.message).toMatch(
      /: the guest stopped after \d+ s: Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\n/,
    );
    expect(error.message).toContain(
      "\nthe oops began: [    3.000000] Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI\nthe console's last lines:\n",
    );
    // the last 15 lines, the panic's and the one after it included; not the first ones
    expect(error.message).toContain("[    27.000000] line 27\n");
    expect(error.message).not.toContain("line 26\n");
    expect(error.message.endsWith("[   40.2] ---[ end trace ]---")).toBe(true);
    expect(error.details?.stuck).toBe("Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b");
  });

  it("stops at systemd's emergency shell", async () => {
    await standIn('[  OK  ] Reached target basic.target\r\nYou are in emergency mode. After logging in, type "journalctl -xb"\r\n');
    const error = await failure(60_000);
    expect(error.message).toMatch(/the guest stopped after \d+ s: You are in emergency mode\. After logging in/);
  });

  it("at the time limit, says what the console showed last, without GRUB's terminal escapes", async () => {
    await standIn("\x1b[0m\x1b[30m\x1b[47m*Debian GNU/Linux 13\x1b[05;78H\r\n[  OK  ] Started systemd-logind.service\r\n");
    const error = await failure(1_000);
    expect(error.message).toMatch(
      /: no result within 1 s\nthe console's last lines:\n\*Debian GNU\/Linux 13\n\[ {2}OK {2}\] Started systemd-logind\.service$/,
    );
    expect(error.details?.stuck).toBeUndefined();
  });
});

describe("lastLines", () => {
  it("keeps the last non-empty lines of a console, whatever its line ends", () => {
    expect(lastLines("a\r\n\r\nb\rc\n\n\x1b[2Jd\x1b[0m\n", 3)).toEqual(["b", "c", "d"]);
    // and cuts a long one, so that a builder's result (4,000 characters of a message) keeps the end of the boot
    expect(lastLines(`${"x".repeat(500)}\n`, 1)).toEqual([`${"x".repeat(160)}...`]);
  });
});
