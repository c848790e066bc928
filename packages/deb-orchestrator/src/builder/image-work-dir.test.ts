import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { prepareImageWorkDir, readImageResult } from "./image-work-dir.js";

const sha = (c: string) => c.repeat(64);
const request = {
  compose: "mini-1.0-20261204.0",
  definitionFile: "mini.yaml",
  definition: "name: mini\n",
  variant: "base",
  arch: "amd64",
  snapshot: [{ path: "dists/mini/InRelease", sha256: sha("a"), size: 3 }],
  definitionFiles: [{ path: "keys/update.asc", sha256: sha("b"), size: 3 }],
  state: { codename: "trixie" },
  // a field this builder does not know yet is kept for the command
  future: true,
};

describe("image task work directory", () => {
  let root: string;
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Downloads that write the digest's first letter, recording where. */
  function fakeDownloads() {
    const written: string[] = [];
    return {
      written,
      download: async (sha256: string, path: string) => {
        written.push(path);
        await writeFile(path, sha256.slice(0, 1));
      },
    };
  }

  it("writes the request as given, the definition, its files and the snapshot into W, and an empty out/", async () => {
    root = await mkdtemp(join(tmpdir(), "image-work-dir-"));
    const w = join(root, "task-1-s");
    const { download } = fakeDownloads();
    await prepareImageWorkDir(w, request, download, new AbortController().signal);
    expect(JSON.parse(await readFile(join(w, "request.json"), "utf8"))).toEqual(request);
    expect(await readFile(join(w, "definition", "mini.yaml"), "utf8")).toBe("name: mini\n");
    expect(await readFile(join(w, "definition", "keys", "update.asc"), "utf8")).toBe("b");
    expect(await readFile(join(w, "snapshot", "dists", "mini", "InRelease"), "utf8")).toBe("a");
    expect(await readdir(join(w, "out"))).toEqual([]);
  });

  it("refuses a hostile request the hub should have refused, writing nothing outside W", async () => {
    root = await mkdtemp(join(tmpdir(), "image-work-dir-"));
    const file = request.definitionFiles[0]!;
    const hostile: [string, unknown][] = [
      ["REQUEST_INVALID", { ...request, definitionFiles: [{ ...file, path: "../../escape" }] }],
      ["REQUEST_INVALID", { ...request, definitionFiles: [{ ...file, path: "/etc/cron.d/x" }] }],
      ["REQUEST_INVALID", { ...request, snapshot: [{ ...request.snapshot[0], path: "pool/../../../x" }] }],
      ["REQUEST_INVALID", { ...request, definitionFile: "../mini.yaml" }],
      ["REQUEST_INVALID", { ...request, state: "not an object" }],
      ["PATH_INVALID", { ...request, definitionFiles: [{ ...file, path: "mini.yaml" }] }],
      ["PATH_INVALID", { ...request, definitionFiles: [file, file] }],
      ["PATH_INVALID", { ...request, definitionFiles: [file, { ...file, path: "keys" }] }],
    ];
    for (const [code, raw] of hostile) {
      const { download, written } = fakeDownloads();
      await expect(prepareImageWorkDir(join(root, "w", "task"), raw, download, new AbortController().signal)).rejects.toMatchObject({
        code,
      });
      expect(written).toEqual([]);
    }
    expect(await readdir(root)).toEqual([]);
  });

  it("reads a result that keeps the contract, and refuses duplicate names and unknown kinds", async () => {
    root = await mkdtemp(join(tmpdir(), "image-work-dir-"));
    const out = join(root, "out");
    await mkdir(out);
    await writeFile(join(out, "disk.qcow2"), "image");
    await writeFile(join(out, "result.json"), JSON.stringify({ files: [{ name: "disk.qcow2", kind: "disk-image" }], result: { a: 1 } }));
    expect(await readImageResult(out)).toEqual({
      files: [{ path: join(out, "disk.qcow2"), name: "disk.qcow2", kind: "disk-image" }],
      image: { a: 1 },
    });
    for (const files of [
      [
        { name: "disk.qcow2", kind: "disk-image" },
        { name: "disk.qcow2", kind: "disk-image" },
      ],
      [{ name: "disk.qcow2", kind: "executable" }],
    ]) {
      await writeFile(join(out, "result.json"), JSON.stringify({ files, result: {} }));
      await expect(readImageResult(out)).rejects.toMatchObject({ code: "IMAGE_RESULT_INVALID" });
    }
    await rm(join(out, "result.json"));
    await symlink("/etc/passwd", join(out, "result.json"));
    await expect(readImageResult(out)).rejects.toMatchObject({ code: "IMAGE_RESULT_INVALID", message: expect.stringContaining("symlink") });
  });
});
