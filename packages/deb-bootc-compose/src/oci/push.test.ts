import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { describe, expect, it } from "vitest";
import { pushImages } from "./push.js";

// The copies themselves run skopeo (push.system.test.ts); here, what is refused before any copy.

describe("pushImages", () => {
  it("refuses a destination skopeo would read as an option or as another transport", async () => {
    const dir = await mkdtemp(join(tmpdir(), "push-"));
    try {
      for (const destination of ["--policy=/tmp/p", "-v", "docker://-x/y:1", "docker-daemon:x:1", "oci:relative/path", "dir:"]) {
        const error = await pushImages(dir, destination).catch((e: unknown) => e);
        expect(isCodedError(error, "PUSH_DESTINATION_INVALID")).toBe(true);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
