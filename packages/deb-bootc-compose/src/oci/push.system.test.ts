import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError, run } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeOciImage } from "./image-writer.js";
import { pushImages } from "./push.js";

// System tier: skopeo copies a compose's OCI layouts (the same call --push makes for docker:// refs).

let work: string;
let composeDir: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "oci-push-"));
  composeDir = join(work, "compose-1");
  const rootfs = join(work, "rootfs");
  await mkdir(join(rootfs, "usr/lib"), { recursive: true });
  await writeFile(join(rootfs, "usr/lib/os-release"), "ID=debian\n");
  for (const variant of ["minimal", "standard"]) {
    await writeOciImage({
      rootfs,
      layout: join(composeDir, "compose", variant, "amd64", "oci"),
      tag: "13.0",
      sourceDateEpoch: 1,
      title: variant,
    });
  }
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("pushImages", () => {
  it("copies every variant's image to its own destination", async () => {
    const pushed = await pushImages(composeDir, `oci-archive:${work}/out/{variant}-{arch}.tar`);
    expect(pushed.map((p) => [p.variant, p.arch, p.destination])).toEqual([
      ["minimal", "amd64", `oci-archive:${work}/out/minimal-amd64.tar`],
      ["standard", "amd64", `oci-archive:${work}/out/standard-amd64.tar`],
    ]);
    const { stdout } = await run("skopeo", ["inspect", `oci-archive:${work}/out/standard-amd64.tar`]);
    expect(JSON.parse(stdout).Labels).toMatchObject({ "containers.bootc": "1", "ostree.bootable": "1" });
  });

  it("refuses one destination for several images", async () => {
    const error = await pushImages(composeDir, `dir:${work}/same`).catch((e: unknown) => e);
    expect(isCodedError(error, "PUSH_DESTINATION_INVALID")).toBe(true);
  });
});
