import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { isCodedError, run } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ResultFile } from "../api/tasks.js";
import { ArtifactStore } from "./artifact-store.js";
import { checkBuildResult } from "./build-result-check.js";
import { withoutHostPaths } from "./host-paths.js";

// a real upload made by dpkg-buildpackage (the debian package's fixture): a .dsc building demo-tool (any)
// and demo-doc (all), its two .debs, .changes and .buildinfo
const upload = new URL("../../../debian/src/__fixtures__/upload/", import.meta.url).pathname;

let dataDir: string;
let store: ArtifactStore;

async function put(data: Buffer | string): Promise<{ sha256: string; size: number }> {
  const bytes = Buffer.from(data);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  await store.put(Readable.from([bytes]), { sha256, size: bytes.length });
  return { sha256, size: bytes.length };
}

const fixture = (name: string) => readFileSync(join(upload, name));
async function result(name: string, kind: string, data: Buffer | string = fixture(name)): Promise<ResultFile> {
  return { name, kind, ...(await put(data)) };
}

let request: { dsc: string; files: { name: string; sha256: string; size: number }[]; arch: string };
let debs: ResultFile[];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "result-check-"));
  store = new ArtifactStore(dataDir);
  await store.init();
  const dsc = { name: "demo-upload_1.0.dsc", ...(await put(fixture("demo-upload_1.0.dsc"))) };
  const tarball = { name: "demo-upload_1.0.tar.xz", ...(await put(fixture("demo-upload_1.0.tar.xz"))) };
  request = { dsc: dsc.name, files: [dsc, tarball], arch: "amd64" };
  debs = [await result("demo-tool_1.0_amd64.deb", "deb"), await result("demo-doc_1.0_all.deb", "deb")];
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function codeOf(files: ResultFile[], req = request): Promise<{ code: string; message: string } | undefined> {
  try {
    await checkBuildResult(store, req, files);
    return undefined;
  } catch (error) {
    if (!isCodedError(error)) throw error;
    return { code: error.code, message: error.message };
  }
}

describe("checkBuildResult", () => {
  it("accepts a real dpkg-buildpackage result and records the binaries from their control files", async () => {
    const files = [
      ...debs,
      await result("demo-upload_1.0_amd64.changes", "changes"),
      await result("demo-upload_1.0_amd64.buildinfo", "buildinfo"),
    ];
    const binaries = await checkBuildResult(store, request, files);
    expect(binaries.map(({ name, version, arch, source, filename }) => ({ name, version, arch, source, filename }))).toEqual([
      { name: "demo-tool", version: "1.0", arch: "amd64", source: "demo-upload", filename: "demo-tool_1.0_amd64.deb" },
      { name: "demo-doc", version: "1.0", arch: "all", source: "demo-upload", filename: "demo-doc_1.0_all.deb" },
    ]);
  });

  it("accepts debhelper's automatic -dbgsym package of a listed binary, and no other unlisted package", async () => {
    const dbgsym = async (name: string, extra: string) => {
      const root = await mkdtemp(join(dataDir, "dbgsym-"));
      await mkdir(join(root, "DEBIAN"));
      await writeFile(
        join(root, "DEBIAN", "control"),
        `Package: ${name}\nSource: demo-upload\nVersion: 1.0\nArchitecture: amd64\nMaintainer: x <x@example.org>\n${extra}Description: debug symbols\n`,
      );
      await run("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", root, join(dataDir, `${name}.deb`)], { debianPackage: "dpkg" });
      return result(`${name}_1.0_amd64.deb`, "deb", readFileSync(join(dataDir, `${name}.deb`)));
    };
    const auto = await dbgsym("demo-tool-dbgsym", "Auto-Built-Package: debug-symbols\n");
    expect((await checkBuildResult(store, request, [...debs, auto])).map((b) => b.name)).toContain("demo-tool-dbgsym");
    expect((await codeOf([...debs, await dbgsym("demo-tool-dbgsym", "")]))?.message).toMatch(/control field Package is "demo-tool-dbgsym"/);
    expect((await codeOf([...debs, await dbgsym("other-dbgsym", "Auto-Built-Package: debug-symbols\n")]))?.message).toMatch(
      /control field Package is "other-dbgsym"/,
    );
  });

  it("refuses an amd64 package from a task that builds arm64, and a .deb under another name", async () => {
    expect((await codeOf(debs, { ...request, arch: "arm64" }))?.message).toMatch(/control field Architecture is "amd64"/);
    const renamed = { ...debs[0]!, name: "demo-tool_1.1_amd64.deb" };
    expect((await codeOf([renamed]))?.message).toMatch(/is named demo-tool_1\.0_amd64\.deb/);
  });

  it("refuses a .changes or .buildinfo whose lists disagree with the reported files", async () => {
    const changes = fixture("demo-upload_1.0_amd64.changes").toString("utf8");
    const otherDigest = changes.replace("5923f59e67c5bb5dc7d5c597810d15e1c4eab699deb5b7897682d620fd315a43", "0".repeat(64));
    expect(await codeOf([...debs, await result("x.changes", "changes", otherDigest)])).toMatchObject({
      code: "BUILD_RESULT_INVALID",
      message: expect.stringMatching(/lists demo-tool_1\.0_amd64\.deb with other size or SHA256/),
    });
    const extraBinary = changes.replace("Binary: demo-doc demo-tool", "Binary: demo-doc demo-tool evil");
    expect((await codeOf([...debs, await result("y.changes", "changes", extraBinary)]))?.message).toMatch(/Binary names evil/);
    const buildinfo = fixture("demo-upload_1.0_amd64.buildinfo").toString("utf8").replace("Version: 1.0\n", "Version: 1.1\n");
    expect((await codeOf([...debs, await result("z.buildinfo", "buildinfo", buildinfo)]))?.message).toMatch(/Version is 1\.1/);
    expect((await codeOf([...debs, await result("w.changes", "changes", "garbage")]))?.message).toMatch(/^w\.changes cannot be read/);
  });

  it("never names the artifact store's paths", async () => {
    const bogus = await result("demo-tool_1.0_amd64.deb", "deb", "not a deb at all\n");
    const answer = await codeOf([bogus]);
    expect(answer?.code).toBe("BUILD_RESULT_INVALID");
    expect(answer?.message).toMatch(/^demo-tool_1\.0_amd64\.deb is not a readable \.deb/);
    expect(answer?.message).not.toContain(dataDir);
  });
});

describe("withoutHostPaths", () => {
  it("names stored objects by their sha256 and everything else under the data directory as <data>", () => {
    const sha = "a".repeat(64);
    expect(withoutHostPaths(`${dataDir}/objects/aa/${sha}: bad; see ${dataDir}/repos/x/1 and ${dataDir}`, dataDir)).toBe(
      `artifact ${sha}: bad; see <data>/repos/x/1 and <data>`,
    );
    expect(withoutHostPaths("nothing to hide", dataDir)).toBe("nothing to hide");
  });
});
