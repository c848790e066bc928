import { describe, expect, it } from "vitest";
import { checkUpdateResult } from "./hub-update-test.js";

const commit = (c: string) => c.repeat(64);
const job = {
  variant: "minimal",
  arch: "amd64",
  from: { commit: commit("a") },
  to: { commit: commit("b"), composeId: "mini-1.0-20261204.1" },
};
const marker = (c: string) => ({
  composeId: "mini-1.0-20261204.0",
  version: "1.0",
  commit: commit(c),
  deployments: [commit(c)],
  complete: true,
});
const update = {
  variant: "minimal",
  arch: "amd64",
  kind: "update",
  image: "mini-minimal.qcow2",
  from: job.from,
  to: job.to,
  passed: true,
  accel: "tcg",
  message: "upgraded",
  steps: [
    { name: "upgrade", marker: marker("a"), durationMs: 1, ended: "matched" },
    { name: "updated", marker: marker("b"), durationMs: 1, ended: "matched" },
  ],
  durationMs: 3,
  served: { bytes: 10, requests: 2, deltaRequests: 1 },
  consoleLog: "log-boot-minimal-amd64-update.log",
  resultsLog: "log-boot-minimal-amd64-update.results.log",
};
const files = [
  { name: "log-boot-minimal-amd64-update.log", sha256: commit("c"), size: 1, kind: "log" },
  { name: "log-boot-minimal-amd64-update.results.log", sha256: commit("d"), size: 1, kind: "log" },
];
const check =
  (u: unknown, f = files) =>
  () =>
    checkUpdateResult(7, { result: { image: { update: u } }, files: f }, job, "mini-minimal.qcow2");

describe("an update test task's result on the client", () => {
  it("takes a record that answers for what was sent", () => {
    expect(check(update)()).toMatchObject({ passed: true, steps: [{ name: "upgrade" }, { name: "updated" }] });
    // a failed boot is a record too: the test phase fails the compose on it
    expect(check({ ...update, passed: false, message: "no marker", steps: [] })()).toMatchObject({ passed: false });
  });

  it.each([
    ["another variant", { ...update, variant: "standard" }, /answers for standard\/amd64/],
    ["another arch", { ...update, arch: "arm64" }, /answers for minimal\/arm64/],
    ["another image", { ...update, image: "other.qcow2" }, /booted "other.qcow2"/],
    ["another from commit", { ...update, from: { commit: commit("e") } }, /tested e+ -> b+/],
    ["another to commit", { ...update, to: { ...job.to, commit: commit("f") } }, /the task was a+ -> b+/],
    ["another compose", { ...update, to: { ...job.to, composeId: "mini-1.0-20261204.9" } }, /tested/],
    ["a log that is a path", { ...update, consoleLog: "../../etc/passwd" }, /consoleLog/],
    ["an unknown field", { ...update, builderPath: "/var/lib/x" }, /builderPath|Unrecognized/],
    ["an unknown marker field", { ...update, steps: [{ ...update.steps[0], marker: { ...marker("a"), extra: 1 } }] }, /steps/],
    ["a message beyond its bound", { ...update, message: "x".repeat(5000) }, /message/],
    ["a marker kind", { ...update, kind: "marker" }, /kind/],
    ["no record", undefined, /update/],
  ])("refuses %s with IMAGE_RESULT_REFUSED", (_, value, message) => {
    expect(check(value)).toThrow(expect.objectContaining({ code: "IMAGE_RESULT_REFUSED", message: expect.stringMatching(message) }));
  });

  it("refuses a log that is not among the task's files, or not as a log", () => {
    expect(check(update, files.slice(0, 1))).toThrow(
      expect.objectContaining({ code: "IMAGE_RESULT_REFUSED", message: expect.stringMatching(/results\.log.*not among/) }),
    );
    expect(check(update, [{ ...files[0]!, kind: "disk-image" }, files[1]!])).toThrow(
      expect.objectContaining({ code: "IMAGE_RESULT_REFUSED" }),
    );
  });
});
