import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readUpdateTestRequest } from "./run-update-test.js";

const request = {
  compose: "mini-1.0-20261204.1",
  variant: "minimal",
  arch: "amd64",
  image: { name: "mini-minimal.qcow2", format: "qcow2", sha256: "c".repeat(64), size: 5 },
  repository: { sha256: "d".repeat(64), size: 5 },
  remote: "mini",
  firmware: "uefi-secure",
  from: { commit: "a".repeat(64) },
  to: { commit: "b".repeat(64), composeId: "mini-1.0-20261204.1" },
};

describe("update-test's request.json", () => {
  let w = "";
  afterEach(async () => {
    if (w) await rm(w, { recursive: true, force: true });
  });

  async function workDir(raw: unknown, image?: (path: string) => Promise<void>) {
    w = await mkdtemp(join(tmpdir(), "update-test-w-"));
    await mkdir(join(w, "inputs"));
    await writeFile(join(w, "request.json"), typeof raw === "string" ? raw : JSON.stringify(raw));
    await (image ?? ((path) => writeFile(path, "disk")))(join(w, "inputs", request.image.name));
    return w;
  }

  it("reads a request the builder prepared, the image in W/inputs", async () => {
    const dir = await workDir(request);
    const read = await readUpdateTestRequest(dir);
    expect(read.request).toEqual(request);
    expect(read.image).toBe(join(dir, "inputs", "mini-minimal.qcow2"));
  });

  it.each([
    ["not JSON", "{"],
    ["an image name with a path", { ...request, image: { ...request.image, name: "../../x.qcow2" } }],
    ["a commit that is no checksum", { ...request, from: { commit: "HEAD" } }],
    ["an option as remote", { ...request, remote: "--repo=/" }],
    ["an unknown field", { ...request, qemu: "-hda /dev/sda" }],
  ])("refuses %s with IMAGE_TASK_REQUEST_INVALID", async (_, raw) => {
    await expect(readUpdateTestRequest(await workDir(raw))).rejects.toMatchObject({ code: "IMAGE_TASK_REQUEST_INVALID" });
  });

  it("refuses an image that is a symlink, whatever it points at", async () => {
    const dir = await workDir(request, (path) => symlink("/etc/passwd", path));
    await expect(readUpdateTestRequest(dir)).rejects.toMatchObject({
      code: "IMAGE_TASK_REQUEST_INVALID",
      message: expect.stringMatching(/not a regular file/),
    });
  });
});
