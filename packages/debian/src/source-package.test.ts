import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { afterAll, describe, expect, it } from "vitest";
import { dscFilePaths, parseDsc, readDsc, verifyDscFiles } from "./source-package.js";

const fixtures = new URL("./__fixtures__/", import.meta.url).pathname;
const upload = join(fixtures, "upload");
const tmp = mkdtempSync(join(tmpdir(), "source-package-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function errorOf(promise: Promise<unknown>): Promise<{ code: string; message: string; details?: Record<string, unknown> }> {
  try {
    await promise;
    return { code: "no error", message: "" };
  } catch (error) {
    if (!isCodedError(error)) throw error;
    return { code: error.code, message: error.message, details: error.details };
  }
}

/** A copy of the demo source package in a fresh directory, with the .dsc text edited. */
let n = 0;
function sourceCopy(edit: (dsc: string) => string = (d) => d): string {
  const dir = join(tmp, `s${n++}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  copyFileSync(join(upload, "demo-upload_1.0.tar.xz"), join(dir, "demo-upload_1.0.tar.xz"));
  writeFileSync(join(dir, "demo-upload_1.0.dsc"), edit(readFileSync(join(upload, "demo-upload_1.0.dsc"), "utf8")));
  return join(dir, "demo-upload_1.0.dsc");
}

describe("parseDsc", () => {
  it("reads a real signed .dsc into typed fields", () => {
    const dsc = parseDsc(readFileSync(join(fixtures, "hello_2.10-5.dsc"), "utf8"), "hello_2.10-5.dsc");
    expect(dsc).toMatchObject({ format: "3.0 (quilt)", source: "hello", binaries: ["hello"], architectures: ["any"], version: "2.10-5" });
    expect(dsc.maintainer).toBe("Santiago Vila <sanvila@debian.org>");
    expect(dsc.signature).toMatch(/^-----BEGIN PGP SIGNATURE-----/);
    expect(dsc.buildDepends.map((g) => g.map((r) => r.name))).toEqual([["debhelper-compat"], ["texinfo"]]);
    expect(dsc.buildDepends[0]![0]!.version).toEqual({ op: "=", version: "13" });
    expect(dsc.buildDependsIndep).toEqual([]);
    expect(dsc.packageList).toEqual([{ package: "hello", type: "deb", section: "devel", priority: "optional", extra: { arch: "any" } }]);
    expect(dsc.files).toHaveLength(3);
    expect(dsc.files[2]).toEqual({
      name: "hello_2.10-5.debian.tar.xz",
      size: 13112,
      md5: "e63dd0810a8fb37a4990ebbe54daa567",
      sha1: "f82ee0bbb31eef165b6801016313da5f39e537a7",
      sha256: "56a65f83d1bbeb4811e6f61355de5e9f1e3c8c8accbe5acb9721d43f6e7a272a",
    });
  });

  it("reads an unsigned .dsc written by dpkg-source", async () => {
    const dsc = await readDsc(join(upload, "demo-upload_1.0.dsc"));
    expect(dsc.signature).toBeUndefined();
    expect(dsc.binaries).toEqual(["demo-tool", "demo-doc"]);
    expect(dsc.architectures).toEqual(["any", "all"]);
    expect(dsc.uploaders).toEqual(["Other Person <other@example.org>"]);
  });

  it.each([
    ["a missing Source", (d: string) => d.replace(/^Source: .*\n/m, "")],
    ["an invalid Version", (d: string) => d.replace(/^Version: .*$/m, "Version: 1.0 beta")],
    ["an unsafe file name", (d: string) => d.replace(/ demo-upload_1.0.tar.xz$/m, " ../../etc/passwd")],
    [
      "sizes that disagree between fields",
      (d: string) => d.replace(/ 968 demo-upload_1.0.tar.xz\nChecksums-Sha256/, " 969 demo-upload_1.0.tar.xz\nChecksums-Sha256"),
    ],
    ["a malformed digest", (d: string) => d.replace(/^ 1940c0c0e337348331ddcc643b4dc43a/m, " xyz")],
    [
      "a file missing from one checksum field",
      (d: string) => d.replace(/^Checksums-Sha1:\n.*\n/m, "Checksums-Sha1:\n 386c4f8b401600c1173104c8706022428f232fa9 968 other.tar.xz\n"),
    ],
    ["a broken Build-Depends", (d: string) => d.replace(/^Standards-Version/m, "Build-Depends: foo (>= \nStandards-Version")],
    ["a broken deb822 body", (d: string) => `${d}\nnot a field\n`],
    ["a broken signature wrapper", (d: string) => `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n${d}`],
  ])("refuses %s with CONTROL_FILE_INVALID", async (_what, edit) => {
    expect((await errorOf(readDsc(sourceCopy(edit)))).code).toBe("CONTROL_FILE_INVALID");
  });
});

describe("verifyDscFiles", () => {
  it("accepts the files dpkg-source wrote", async () => {
    const dsc = await verifyDscFiles(join(upload, "demo-upload_1.0.dsc"));
    expect(dsc.files.map((f) => f.name)).toEqual(["demo-upload_1.0.tar.xz"]);
    expect(await dscFilePaths(join(upload, "demo-upload_1.0.dsc"))).toEqual([
      join(upload, "demo-upload_1.0.dsc"),
      join(upload, "demo-upload_1.0.tar.xz"),
    ]);
  });

  it("names a listed file that is missing", async () => {
    const path = sourceCopy();
    rmSync(path.replace(".dsc", ".tar.xz"));
    const error = await errorOf(verifyDscFiles(path));
    expect(error.code).toBe("LISTED_FILE_MISSING");
    expect(error.message).toContain("demo-upload_1.0.tar.xz");
  });

  it("names the file and the size when sizes differ (every field agreeing on the wrong size)", async () => {
    const path = sourceCopy((d) => d.replaceAll(" 968 demo-upload_1.0.tar.xz", " 967 demo-upload_1.0.tar.xz"));
    const error = await errorOf(verifyDscFiles(path));
    expect(error).toMatchObject({
      code: "CHECKSUM_MISMATCH",
      details: { file: "demo-upload_1.0.tar.xz", checksum: "size", expected: 967, actual: 968 },
    });
  });

  it("names the checksum field that differs", async () => {
    const wrong = "0".repeat(64);
    const path = sourceCopy((d) => d.replace(/^ 38d2532c\S+/m, ` ${wrong}`));
    const error = await errorOf(verifyDscFiles(path));
    expect(error).toMatchObject({ code: "CHECKSUM_MISMATCH", details: { file: "demo-upload_1.0.tar.xz", checksum: "sha256" } });
    expect(error.message).toContain("Checksums-Sha256");
  });

  it("detects a changed file of the same size", async () => {
    const path = sourceCopy();
    const tarball = path.replace(".dsc", ".tar.xz");
    const bytes = readFileSync(tarball);
    bytes[100] = bytes[100]! ^ 0xff;
    writeFileSync(tarball, bytes);
    expect((await errorOf(verifyDscFiles(path))).code).toBe("CHECKSUM_MISMATCH");
  });
});
