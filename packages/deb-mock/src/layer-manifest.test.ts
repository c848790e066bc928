import { chmod, mkdir, mkdtemp, readFile, rename, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkLayerManifest, writeLayerManifest } from "./layer-manifest.js";

let dir: string;
let layer: string;
let manifest: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "deb-mock-layer-manifest-"));
  layer = join(dir, "layer");
  manifest = join(dir, "manifest");
  await mkdir(join(layer, "usr/bin"), { recursive: true });
  await writeFile(join(layer, "usr/bin/tool"), "#!/bin/sh\necho tool\n");
  await chmod(join(layer, "usr/bin/tool"), 0o755);
  await symlink("tool", join(layer, "usr/bin/alias"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("a layer's manifest", () => {
  it("records every entry with its owner, mode and hash, and the digest names that content", async () => {
    const digest = await writeLayerManifest(layer, manifest);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    const lines = (await readFile(manifest, "utf8")).trim().split("\n");
    expect(lines.map((l) => l.split(" ")[0])).toEqual(['"."', '"usr"', '"usr/bin"', '"usr/bin/alias"', '"usr/bin/tool"']);
    expect(lines[4]).toMatch(/^"usr\/bin\/tool" f 755 \d+ \d+ 20 [0-9a-f]{64}\t\d+ \d+\.\d{9,}$/);
    expect(lines[3]).toMatch(/^"usr\/bin\/alias" l 777 \d+ \d+ "tool"\t/);
    expect(await checkLayerManifest(layer, manifest, digest)).toBeUndefined();
    // the same content elsewhere has the same digest
    const copy = join(dir, "copy");
    await mkdir(join(copy, "usr/bin"), { recursive: true });
    await writeFile(join(copy, "usr/bin/tool"), "#!/bin/sh\necho tool\n");
    await chmod(join(copy, "usr/bin/tool"), 0o755);
    await symlink("tool", join(copy, "usr/bin/alias"));
    expect(await writeLayerManifest(copy, join(dir, "copy-manifest"))).toBe(digest);
  });

  const changes: Array<[string, () => Promise<void>]> = [
    ["a file's content, same size", () => writeFile(join(layer, "usr/bin/tool"), "#!/bin/sh\necho evil\n")],
    ["a mode", () => chmod(join(layer, "usr/bin/tool"), 0o4755)],
    ["a new file", () => writeFile(join(layer, "usr/bin/extra"), "")],
    ["a removed file", () => unlink(join(layer, "usr/bin/alias"))],
    [
      "a file replaced by another with the same content",
      async () => {
        await writeFile(join(dir, "same"), "#!/bin/sh\necho tool\n");
        await chmod(join(dir, "same"), 0o755);
        await rename(join(dir, "same"), join(layer, "usr/bin/tool"));
      },
    ],
    [
      "a symlink's target",
      async () => {
        await unlink(join(layer, "usr/bin/alias"));
        await symlink("/etc/shadow", join(layer, "usr/bin/alias"));
      },
    ],
  ];
  it.each(changes)("finds %s", async (_name, change) => {
    const digest = await writeLayerManifest(layer, manifest);
    await change();
    expect(await checkLayerManifest(layer, manifest, digest)).toMatch(/changed|entries/);
  });

  it("refuses a layer whose manifest is missing or does not match the recorded digest", async () => {
    const digest = await writeLayerManifest(layer, manifest);
    const text = await readFile(manifest, "utf8");
    await writeFile(manifest, text.replace(/ [0-9a-f]{64}\t/, ` ${"0".repeat(64)}\t`));
    expect(await checkLayerManifest(layer, manifest, digest)).toMatch(/does not match the digest/);
    expect(await checkLayerManifest(layer, manifest, undefined)).toMatch(/does not match the digest/);
    await rm(manifest);
    expect(await checkLayerManifest(layer, manifest, digest)).toBe("it has no manifest");
  });
});
