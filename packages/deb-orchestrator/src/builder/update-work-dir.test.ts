import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { prepareUpdateWorkDir } from "./update-work-dir.js";

const request = {
  compose: "mini-1.0-20261204.1",
  variant: "base",
  arch: "amd64",
  image: { name: "mini-base.raw", format: "raw", sha256: "a".repeat(64), size: 3 },
  repository: { sha256: "b".repeat(64), size: 3 },
  remote: "mini",
  firmware: "bios",
  from: { commit: "c".repeat(64) },
  to: { commit: "d".repeat(64), composeId: "mini-1.0-20261204.1" },
};

describe("update test work directory", () => {
  let root = "";
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Downloads that write the digest's first letter. */
  const download = async (sha256: string, path: string) => writeFile(path, sha256.slice(0, 1));

  it("writes the request as given, the image and the repository tar into W/inputs, and an empty out/", async () => {
    root = await mkdtemp(join(tmpdir(), "update-work-dir-"));
    const w = join(root, "task-1-s");
    await prepareUpdateWorkDir(w, request, download, new AbortController().signal);
    expect(JSON.parse(await readFile(join(w, "request.json"), "utf8"))).toEqual(request);
    expect(await readFile(join(w, "inputs", "mini-base.raw"), "utf8")).toBe("a");
    expect(await readFile(join(w, "inputs", "repository.tar"), "utf8")).toBe("b");
    expect((await readdir(w)).sort()).toEqual(["inputs", "out", "request.json"]);
    expect(await readdir(join(w, "out"))).toEqual([]);
  });

  it.each([
    ["an image name leaving W", { ...request, image: { ...request.image, name: "../../../etc/cron.d/x.raw" } }],
    ["an absolute image name", { ...request, image: { ...request.image, name: "/etc/x.raw" } }],
    ["the repository tar's name", { ...request, image: { ...request.image, name: "repository.tar" } }],
    ["a commit that is an option", { ...request, to: { ...request.to, commit: "--repo=/etc" } }],
    ["an unknown field", { ...request, extraArgs: ["-enable-kvm"] }],
  ])("refuses %s, writing nothing", async (_, hostile) => {
    root = await mkdtemp(join(tmpdir(), "update-work-dir-"));
    const w = join(root, "task-1-s");
    await expect(prepareUpdateWorkDir(w, hostile, download, new AbortController().signal)).rejects.toMatchObject({
      code: "REQUEST_INVALID",
    });
    expect(await readdir(root)).toEqual([]);
  });
});
