import { utimes } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../test/temp-dir.js";
import { isCodedError } from "./errors.js";
import { acquireLock } from "./file-lock.js";

const dir = useTempDir("file-lock-");

describe("acquireLock", () => {
  it("gives up after its timeout when another process holds the lock", async () => {
    const path = join(dir(), "plain.lock");
    const held = await acquireLock(path, { timeoutMs: 1000 });
    const error = await acquireLock(path, { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(isCodedError(error) && error.code).toBe("LOCKED");
    await held.release();
    await (await acquireLock(path, { timeoutMs: 200 })).release();
  });

  it("keeps waiting past its timeout while the holder's heartbeat is fresh, and gets the lock when it is released", async () => {
    const path = join(dir(), "busy.lock");
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
    const path = join(dir(), "stuck.lock");
    const held = await acquireLock(path, { timeoutMs: 1000 }); // a holder that does not beat
    await utimes(path, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const error = await acquireLock(path, { timeoutMs: 200, heartbeatMs: 100 }).catch((e: unknown) => e);
    expect(isCodedError(error) && error.code).toBe("LOCKED");
    await held.release();
  });
});
