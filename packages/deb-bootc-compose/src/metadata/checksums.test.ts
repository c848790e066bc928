import { createHash } from "node:crypto";
import { appendFile, link, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeChecksums } from "./checksums.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

/** SHA256SUMS as a map file -> sum. */
async function sums(composeDir: string): Promise<Map<string, string>> {
  const text = await readFile(join(composeDir, "compose", "SHA256SUMS"), "utf8");
  return new Map(
    text
      .trim()
      .split("\n")
      .map((l) => [l.slice(66), l.slice(0, 64)] as [string, string]),
  );
}

/**
 * A previous compose with one image file, checksummed; a new compose whose image is a hard link of it.
 * The previous compose's recorded sum is replaced by a marker, so that a sum taken over shows.
 */
async function pair(): Promise<{ previous: string; next: string; marker: string; image: string }> {
  const root = await mkdtemp(join(tmpdir(), "checksums-"));
  dirs.push(root);
  const previous = join(root, "a");
  const next = join(root, "b");
  const image = join("compose", "minimal", "amd64", "disk.qcow2");
  await mkdir(join(previous, "compose", "minimal", "amd64"), { recursive: true });
  await mkdir(join(next, "compose", "minimal", "amd64"), { recursive: true });
  await writeFile(join(previous, image), "disk image");
  await writeChecksums(previous);
  const file = join(previous, "work", "checksums.json");
  const marker = "0".repeat(64);
  const records = JSON.parse(await readFile(file, "utf8")) as Array<{ file: string; sha256: string }>;
  expect(records).toEqual([expect.objectContaining({ file: "minimal/amd64/disk.qcow2", sha256: sha("disk image") })]);
  await writeFile(file, JSON.stringify(records.map((r) => ({ ...r, sha256: marker }))));
  await link(join(previous, image), join(next, image));
  await writeFile(join(next, "compose", "minimal", "amd64", "new.txt"), "written by this compose");
  return { previous, next, marker, image };
}

describe("SHA256SUMS", () => {
  it("takes the sum of a file shared by hard link with the previous compose from its record, and reads new files", async () => {
    const { previous, next, marker } = await pair();
    await writeChecksums(next, { previous });
    const listed = await sums(next);
    expect(listed.get("minimal/amd64/disk.qcow2")).toBe(marker);
    expect(listed.get("minimal/amd64/new.txt")).toBe(sha("written by this compose"));
  });

  it("reads a shared file again when it changed in place (size)", async () => {
    const { previous, next, image } = await pair();
    await appendFile(join(next, image), " changed");
    await writeChecksums(next, { previous });
    expect((await sums(next)).get("minimal/amd64/disk.qcow2")).toBe(sha("disk image changed"));
  });

  it("reads a shared file again when it changed in place (same size, other mtime)", async () => {
    const { previous, next, image } = await pair();
    await writeFile(join(next, image), "DISK IMAGE");
    await utimes(join(next, image), new Date(), new Date(Date.now() + 5000));
    await writeChecksums(next, { previous });
    expect((await sums(next)).get("minimal/amd64/disk.qcow2")).toBe(sha("DISK IMAGE"));
  });

  it("reads a file that is a copy, not the same file", async () => {
    const { previous, next, image } = await pair();
    await rm(join(next, image));
    await writeFile(join(next, image), "disk image");
    await writeChecksums(next, { previous });
    expect((await sums(next)).get("minimal/amd64/disk.qcow2")).toBe(sha("disk image"));
  });

  it("takes a sum the phase that wrote the file knows", async () => {
    const { next } = await pair();
    await writeChecksums(next, { known: new Map([["minimal/amd64/new.txt", "1".repeat(64)]]) });
    const listed = await sums(next);
    expect(listed.get("minimal/amd64/new.txt")).toBe("1".repeat(64));
    expect(listed.get("minimal/amd64/disk.qcow2")).toBe(sha("disk image"));
  });
});
