import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { CHAIN, makeDemoSource, STAMP_DIR } from "./dependent-sources.js";

describe("demo sources for dependency-aware building", () => {
  const dir = useTempDir("dependent-sources-");

  it("packs a source that dpkg-buildpackage builds into stamped .debs with the declared relations", async () => {
    const dsc = await makeDemoSource(dir(), CHAIN[0]!);
    expect(dsc).toMatch(/chaindemo-lib_1\.0\.dsc$/);
    const tree = join(dir(), "chaindemo-lib-1.0");
    await run("dpkg-buildpackage", ["-b", "-us", "-uc", "-d"], { cwd: tree, debianPackage: "dpkg-dev" });
    const debs = (await readdir(dir())).filter((f) => f.endsWith(".deb")).sort();
    expect(debs).toEqual([
      expect.stringMatching(/^libchaindemo-dev_1\.0_\w+\.deb$/),
      expect.stringMatching(/^libchaindemo1_1\.0_\w+\.deb$/),
    ]);
    const dev = join(dir(), debs[0]!);
    const { stdout: depends } = await run("dpkg-deb", ["-f", dev, "Depends"], { debianPackage: "dpkg" });
    expect(depends.trim()).toBe("libchaindemo1 (= 1.0)");
    const { stdout: files } = await run("dpkg-deb", ["-c", dev], { debianPackage: "dpkg" });
    expect(files).toContain(`.${STAMP_DIR}/libchaindemo-dev`);
  });
});
