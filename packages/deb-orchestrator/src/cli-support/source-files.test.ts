import { readdir, rename, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { CHAIN, makeDemoSource } from "../testing/dependent-sources.js";
import { sourceFiles } from "./source-files.js";

describe("sourceFiles", () => {
  const dir = useTempDir("source-files-");

  it("packs a source directory whose name looks like an option as a path, not an option", async () => {
    await makeDemoSource(dir(), CHAIN[0]!);
    for (const made of await readdir(dir())) if (!made.endsWith("-1.0")) await rm(join(dir(), made));
    const tree = join(dir(), "-B-chaindemo");
    await rename(join(dir(), "chaindemo-lib-1.0"), tree);
    const { dsc, files } = await sourceFiles(tree);
    expect(basename(dsc)).toBe("chaindemo-lib_1.0.dsc");
    expect(files.map((f) => basename(f)).sort()).toEqual(["chaindemo-lib_1.0.dsc", "chaindemo-lib_1.0.tar.xz"]);
  });
});
