import { describe, expect, it } from "vitest";
import { Dispatcher } from "./dispatcher.js";

/** A waiting builder: whether its long-poll was woken (the wait's own timeout is far away). */
function waiting(dispatcher: Dispatcher, hostId: number, arches: string[], capabilities: string[]) {
  const controller = new AbortController();
  const state = { woken: false, stop: () => controller.abort() };
  void dispatcher.wait(hostId, new Set(arches), new Set(capabilities), dispatcher.current, 60_000, controller.signal).then(() => {
    state.woken = true;
  });
  return state;
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("Dispatcher", () => {
  it("wakes a builder with the capability the task needs, not the first one of the architecture", async () => {
    const dispatcher = new Dispatcher();
    // the build-only builder waits first: waking by architecture alone would spend the wake on it
    const builds = waiting(dispatcher, 1, ["amd64"], ["build"]);
    const images = waiting(dispatcher, 2, ["amd64"], ["image"]);
    dispatcher.wake("amd64", "image");
    await settle();
    expect([builds.woken, images.woken]).toEqual([false, true]);
    // and a build task does not wake an image-only builder
    const otherImages = waiting(dispatcher, 3, ["amd64"], ["image"]);
    dispatcher.wake("amd64", "build");
    await settle();
    expect([builds.woken, otherImages.woken]).toEqual([true, false]);
    otherImages.stop();
  });

  it("wakes by architecture, and any builder when the capability is not known", async () => {
    const dispatcher = new Dispatcher();
    const arm = waiting(dispatcher, 1, ["arm64"], ["build", "image"]);
    const amd = waiting(dispatcher, 2, ["amd64"], ["image"]);
    dispatcher.wake("amd64", "build");
    await settle();
    expect([arm.woken, amd.woken]).toEqual([false, false]);
    dispatcher.wake("amd64", null);
    await settle();
    expect([arm.woken, amd.woken]).toEqual([false, true]);
    dispatcher.wake(null, null);
    await settle();
    expect(arm.woken).toBe(true);
    expect(dispatcher.waiting).toBe(0);
  });

  it("relays the capability with the architecture to other hub processes", () => {
    const dispatcher = new Dispatcher();
    const relayed: unknown[] = [];
    dispatcher.relay = (arch, capability) => relayed.push([arch, capability]);
    dispatcher.wake("amd64", "image");
    dispatcher.wake("arm64", "build", 1, true); // from a relay: not sent back
    expect(relayed).toEqual([["amd64", "image"]]);
  });
});
