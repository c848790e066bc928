import { mkdtemp, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isCodedError } from "./errors.js";
import { acquireLock } from "./file-lock.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "file-lock-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("acquireLock", () => {
  it("gives up after its timeout when another process holds the lock", async () => {
    const path = join(dir, "plain.lock");
    const held = await acquireLock(path, { timeoutMs: 1000 });
    const error = await acquireLock(path, { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(isCodedError(error) && error.code).toBe("LOCKED");
    await held.release();
    await (await acquireLock(path, { timeoutMs: 200 })).release();
  });

  it("keeps waiting past its timeout while the holder's heartbeat is fresh, and gets the lock when it is released", async () => {
    const path = join(dir, "busy.lock");
    const held = await acquireLock(path, { timeoutMs: 1000, heartbeatMs: 100 });
    const waits: string[] = [];
    const waiter = acquireLock(path, { timeoutMs: 200, heartbeatMs: 100, what: "the base", onStillWaiting: (m) => waits.push(m) });
    await new Promise((resolve) => setTimeout(resolve, 900));
    await held.release();
    const lock = await waiter;
    expect(waits.length).toBeGreaterThanOrEqual(2);
    expect(waits[0]).toContain("the base is still being worked on");
    await lock.release();
  });

  it("gives up when the holder's heartbeat stopped", async () => {
    const path = join(dir, "stuck.lock");
    const held = await acquireLock(path, { timeoutMs: 1000 }); // a holder that does not beat
    await utimes(path, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const error = await acquireLock(path, { timeoutMs: 200, heartbeatMs: 100 }).catch((e: unknown) => e);
    expect(isCodedError(error) && error.code).toBe("LOCKED");
    await held.release();
  });
});
