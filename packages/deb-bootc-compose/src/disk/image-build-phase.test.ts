import { mkdir, mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "@debian-bootc/core";
import { afterAll, describe, expect, it } from "vitest";
import { ComposeState } from "../compose/compose-state.js";
import type { PhaseContext } from "../compose/phase-engine.js";
import { parseDefinition } from "../definition.js";
import { type DiskImageKeyInputs, diskImageKey, reuseDiskImages } from "./image-build-phase.js";

const definition = parseDefinition('name: disk\nversion: "1.0"\n', "def.yaml");
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const inputs: DiskImageKeyInputs = {
  code: ["a".repeat(64), "b".repeat(64)],
  hostTools: "gdisk=1.0.9-2.1\ndosfstools=4.2-1\nmtools=4.0.33-1+really4.0.32-1\nqemu-utils=1:7.2+dfsg-7\n",
  profile: "debian-trixie-amd64",
  commit: "c".repeat(64),
  ref: "debian/13/amd64/minimal",
  osName: "disk",
  origin: { remote: "disk", ref: "debian/13/amd64/minimal" },
  kargs: ["rw", "console=ttyS0,115200"],
  boot: { secureBoot: true, firmware: "hybrid" },
  size: 4 * 1024 ** 3,
  files: { qcow2: "disk-minimal-amd64-1.0.qcow2" },
};

/** Every input of a disk image, changed one at a time. */
const changes: Array<[string, Partial<DiskImageKeyInputs>]> = [
  ["the commit", { commit: "d".repeat(64) }],
  ["the kernel arguments", { kargs: ["rw"] }],
  ["the order of the kernel arguments", { kargs: ["console=ttyS0,115200", "rw"] }],
  ["the size", { size: 2 * 1024 ** 3 }],
  ["Secure Boot", { boot: { secureBoot: false, firmware: "hybrid" } }],
  ["the firmware", { boot: { secureBoot: true, firmware: "uefi" } }],
  ["the origin's ref", { origin: { remote: "disk", ref: "stable" } }],
  ["the origin's remote", { origin: { remote: "other", ref: "debian/13/amd64/minimal" } }],
  ["the deployed ref", { ref: "other" }],
  ["the stateroot", { osName: "other" }],
  ["the formats", { files: { qcow2: "disk-minimal-amd64-1.0.qcow2", raw: "disk-minimal-amd64-1.0.raw" } }],
  ["the host's tools", { hostTools: inputs.hostTools.replace("qemu-utils=1:7.2", "qemu-utils=1:8.2") }],
  ["the runroot's suite", { profile: "debian-forky-amd64" }],
  ["the code", { code: ["e".repeat(64), "b".repeat(64)] }],
];

describe("disk image key", () => {
  it.each(changes)("changes with %s", (_what, change) => {
    expect(diskImageKey({ ...inputs, ...change })).not.toBe(diskImageKey(inputs));
  });

  it("is the same for the same inputs, whatever the order of the fields", () => {
    const reordered = Object.fromEntries(Object.entries(inputs).reverse()) as unknown as DiskImageKeyInputs;
    expect(diskImageKey(reordered)).toBe(diskImageKey(inputs));
  });
});

/** Two compose directories in one output directory; the first is latest-disk and made its image from `key`. */
async function composes(key: string, content = "qcow2 bytes"): Promise<{ previous: string; ctx: PhaseContext; image: string }> {
  const root = await mkdtemp(join(tmpdir(), "disk-reuse-"));
  dirs.push(root);
  const previous = join(root, "disk-1.0-20261201.0");
  const image = join("compose", "minimal", "amd64", "images", "disk-minimal-amd64-1.0.qcow2");
  await mkdir(join(previous, "compose", "minimal", "amd64", "images"), { recursive: true });
  await mkdir(join(previous, "work", "amd64", "minimal"), { recursive: true });
  await writeFile(join(previous, image), "qcow2 bytes");
  const { mtimeMs } = await stat(join(previous, image));
  // a content other than the recorded one is written after the record, as a machine booted from it would
  if (content !== "qcow2 bytes") {
    await writeFile(join(previous, image), content);
    await utimes(join(previous, image), new Date(), new Date(mtimeMs + 1000));
  }
  const record = {
    key,
    rootUuid: "0b8d1f3c-5a5e-4c4e-9a57-3f7f1e2a0c11",
    files: [{ name: "disk-minimal-amd64-1.0.qcow2", format: "qcow2", size: "qcow2 bytes".length, mtimeMs, sha256: "f".repeat(64) }],
  };
  await writeFile(join(previous, "work", "amd64", "minimal", "disk-key.json"), JSON.stringify(record));
  await symlink("disk-1.0-20261201.0", join(root, "latest-disk"));
  const dir = join(root, "disk-1.0-20261202.0");
  await mkdir(dir);
  const ctx: PhaseContext = {
    composeId: "disk-1.0-20261202.0",
    composeDir: dir,
    definition,
    logger: silentLogger,
    signal: new AbortController().signal,
    state: new ComposeState(),
    emit: () => {},
  };
  return { previous, ctx, image };
}

describe("disk image reuse", () => {
  it("takes over the previous compose's image made from the same key: hard-linked, with its root UUID and checksum", async () => {
    const key = diskImageKey(inputs);
    const { previous, ctx, image } = await composes(key);
    const taken = await reuseDiskImages(ctx, "minimal", "amd64", key, ["disk-minimal-amd64-1.0.qcow2"]);
    expect(taken).toMatchObject({
      from: "disk-1.0-20261201.0",
      record: { rootUuid: "0b8d1f3c-5a5e-4c4e-9a57-3f7f1e2a0c11", files: [{ sha256: "f".repeat(64) }] },
    });
    expect((await stat(join(ctx.composeDir, image))).ino).toBe((await stat(join(previous, image))).ino);
    const recorded = JSON.parse(await readFile(join(ctx.composeDir, "work", "amd64", "minimal", "disk-key.json"), "utf8"));
    expect(recorded).toMatchObject({ key, reusedFrom: "disk-1.0-20261201.0" });
  });

  it.each(changes)("does not take it over when %s changed", async (_what, change) => {
    const { ctx, image } = await composes(diskImageKey(inputs));
    const taken = await reuseDiskImages(ctx, "minimal", "amd64", diskImageKey({ ...inputs, ...change }), ["disk-minimal-amd64-1.0.qcow2"]);
    expect(taken).toBeUndefined();
    await expect(stat(join(ctx.composeDir, image))).rejects.toThrow(/ENOENT/);
  });

  it("does not take over a file that is not the one recorded, nor one asked for in another format", async () => {
    const key = diskImageKey(inputs);
    const changed = await composes(key, "qcow2 bytes, and more");
    expect(await reuseDiskImages(changed.ctx, "minimal", "amd64", key, ["disk-minimal-amd64-1.0.qcow2"])).toBeUndefined();
    await expect(stat(join(changed.ctx.composeDir, changed.image))).rejects.toThrow(/ENOENT/);
    await expect(stat(join(changed.ctx.composeDir, "work", "amd64", "minimal", "disk-key.json"))).rejects.toThrow(/ENOENT/);
    const other = await composes(key);
    expect(await reuseDiskImages(other.ctx, "minimal", "amd64", key, ["disk-minimal-amd64-1.0.raw"])).toBeUndefined();
  });

  it("does not take over a file written in place since it was recorded (same size, another mtime)", async () => {
    const key = diskImageKey(inputs);
    const booted = await composes(key, "QCOW2 BYTES");
    expect(await reuseDiskImages(booted.ctx, "minimal", "amd64", key, ["disk-minimal-amd64-1.0.qcow2"])).toBeUndefined();
    await expect(stat(join(booted.ctx.composeDir, booted.image))).rejects.toThrow(/ENOENT/);
  });
});
