import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { currentProcessOwner, isOwnerAlive } from "./process-owner.js";

describe("a recorded process owner", () => {
  it("is alive while it runs, and dead once its PID is gone, recycled, or from an earlier boot", async () => {
    const me = await currentProcessOwner();
    expect(me.pid).toBe(process.pid);
    expect(me.pidStart).toMatch(/^[0-9]+$/);
    expect(await isOwnerAlive(me)).toBe(true);
    // a process that has exited
    const exited = spawnSync("true").pid;
    expect(await isOwnerAlive({ ...me, pid: exited, pidStart: "1" })).toBe(false);
    // this PID, but recorded for a process started at another time (the PID was recycled)
    expect(await isOwnerAlive({ ...me, pidStart: String(Number(me.pidStart) + 1) })).toBe(false);
    // the same PID and start time, recorded in an earlier boot
    expect(await isOwnerAlive({ ...me, boot: "00000000-0000-0000-0000-000000000000" })).toBe(false);
  });

  it("counts an owner in another PID namespace as alive: its PID cannot be checked from here", async () => {
    const me = await currentProcessOwner();
    expect(await isOwnerAlive({ ...me, pid: spawnSync("true").pid, pidStart: "1", pidNamespace: "pid:[1]" })).toBe(true);
  });
});
