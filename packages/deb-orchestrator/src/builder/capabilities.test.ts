import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkCapabilities, imageTools, resolveCommand } from "./capabilities.js";

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
    await expect(checkCapabilities(["build"], "deb-bootc-compose", { uid: 1000, path: "" })).resolves.toBeUndefined();
  });

  it("refuses image without root, or with an image tool missing or not executable", async () => {
    const all = await pathWith([...imageTools, "deb-bootc-compose"]);
    await expect(checkCapabilities(["build", "image"], "deb-bootc-compose", { uid: 1000, path: all })).rejects.toMatchObject({
      code: "BUILDER_CAPABILITY_MISSING",
      message: expect.stringContaining("root"),
    });
    await expect(checkCapabilities(["image"], "deb-bootc-compose", { uid: 0, path: all })).resolves.toBeUndefined();
    await chmod(join(all, "skopeo"), 0o644);
    await expect(checkCapabilities(["image"], "deb-bootc-compose", { uid: 0, path: all })).rejects.toMatchObject({
      code: "BUILDER_CAPABILITY_MISSING",
      details: { missing: ["skopeo"] },
    });
  });

  it("refuses image when the compose command is neither on PATH nor an executable path", async () => {
    const all = await pathWith(imageTools);
    const host = { uid: 0, path: all };
    await expect(checkCapabilities(["image"], "deb-bootc-compose", host)).rejects.toMatchObject({
      code: "BUILDER_CAPABILITY_MISSING",
      details: { missing: ["deb-bootc-compose"] },
    });
    // a path is taken as it is, not looked up on PATH
    await expect(checkCapabilities(["image"], join(all, "skopeo"), host)).resolves.toBeUndefined();
    await expect(checkCapabilities(["image"], join(all, "absent", "deb-bootc-compose"), host)).rejects.toMatchObject({
      code: "BUILDER_CAPABILITY_MISSING",
    });
    expect(await resolveCommand("skopeo", `/nonexistent:${all}`)).toBe(join(all, "skopeo"));
  });
});
