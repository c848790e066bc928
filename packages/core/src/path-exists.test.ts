import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { pathExists } from "./path-exists.js";

describe("pathExists", () => {
  let dir: string;
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it("sees files and links, and follows a link only when asked", async () => {
    dir = await mkdtemp(join(tmpdir(), "path-exists-"));
    await writeFile(join(dir, "file"), "x");
    await symlink("missing", join(dir, "dangling"));
    expect(await pathExists(join(dir, "file"))).toBe(true);
    expect(await pathExists(join(dir, "file"), { followLinks: true })).toBe(true);
    expect(await pathExists(join(dir, "nothing"))).toBe(false);
    expect(await pathExists(join(dir, "dangling"))).toBe(true);
    expect(await pathExists(join(dir, "dangling"), { followLinks: true })).toBe(false);
  });
});
