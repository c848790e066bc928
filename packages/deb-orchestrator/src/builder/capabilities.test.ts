import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkCapabilities, imageTools } from "./capabilities.js";

describe("a builder's declared capabilities", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function pathWith(tools: readonly string[]): Promise<string> {
    dir = await mkdtemp(join(tmpdir(), "capabilities-"));
    for (const tool of tools) {
      await writeFile(join(dir, tool), "#!/bin/sh\n");
      await chmod(join(dir, tool), 0o755);
    }
    return dir;
  }

  it("needs nothing for build", async () => {
    await expect(checkCapabilities(["build"], { uid: 1000, path: "" })).resolves.toBeUndefined();
  });

  it("refuses image without root, or with an image tool missing or not executable", async () => {
    const all = await pathWith(imageTools);
    await expect(checkCapabilities(["build", "image"], { uid: 1000, path: all })).rejects.toMatchObject({
      code: "BUILDER_CAPABILITY_MISSING",
      message: expect.stringContaining("root"),
    });
    await expect(checkCapabilities(["image"], { uid: 0, path: all })).resolves.toBeUndefined();
    await chmod(join(all, "skopeo"), 0o644);
    await expect(checkCapabilities(["image"], { uid: 0, path: all })).rejects.toMatchObject({
      code: "BUILDER_CAPABILITY_MISSING",
      details: { missing: ["skopeo"] },
    });
  });
});
