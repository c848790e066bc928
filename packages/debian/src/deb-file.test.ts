import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { isCodedError } from "@debian-bootc/core";
import { afterAll, describe, expect, it } from "vitest";
import { codeOf } from "../../../test/error-code.js";
import { ar, makeDeb, tar } from "./__fixtures__/deb-builder.js";
import { entryToListing, parseListing } from "./__fixtures__/dpkg-listing.js";
import { readDeb } from "./deb-file.js";

const debs = new URL("./__fixtures__/debs/", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "deb-file-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
function writeTemp(data: Buffer): string {
  const path = join(tmp, `t${counter++}.deb`);
  writeFileSync(path, data);
  return path;
}

describe("readDeb on real and dpkg-deb-built packages", () => {
  const cases: Array<[string, string, string]> = [
    ["hello_2.10-5_amd64", "xz", "xz"],
    ["netbase_6.5_all", "xz", "xz"],
    ["demo-files_zstd", "zstd", "zstd"],
    ["demo-files_gzip", "gzip", "gzip"],
    ["demo-files_none", "none", "none"],
    ["demo-files_pax", "gzip", "xz"],
  ];
  it.each(cases)("%s: control file and file list match dpkg-deb", async (name, controlCompression, dataCompression) => {
    const path = `${debs}${name}.deb`;
    const info = await readDeb(path, { listFiles: true });
    expect(info.controlText).toBe(readFileSync(`${debs}${name}.control`, "utf8"));
    expect(info.controlCompression).toBe(controlCompression);
    expect(info.dataCompression).toBe(dataCompression);
    expect(info.files?.map(entryToListing)).toEqual(parseListing(readFileSync(`${debs}${name}.contents`, "utf8")));
    const bytes = readFileSync(path);
    expect(info.size).toBe(bytes.length);
    for (const algorithm of ["md5", "sha1", "sha256", "sha512"] as const) {
      expect(info[algorithm]).toBe(createHash(algorithm).update(bytes).digest("hex"));
    }
  });

  it("parses the control paragraph and lists control.tar's members", async () => {
    const info = await readDeb(`${debs}hello_2.10-5_amd64.deb`);
    expect(info.control.get("Package")).toBe("hello");
    expect(info.control.get("Version")).toBe("2.10-5");
    expect(info.control.get("Architecture")).toBe("amd64");
    expect(info.controlFiles).toEqual(["./", "./control", "./md5sums"]);
    expect(info.files).toBeUndefined();
  });

  it("reports GNU long names, hard links, devices and setuid bits like dpkg-deb", async () => {
    const info = await readDeb(`${debs}demo-files_zstd.deb`, { listFiles: true });
    const byPath = new Map(info.files!.map((f) => [f.path, f]));
    expect(byPath.get("./usr/bin/demo")).toMatchObject({ type: "file", mode: 0o4755, size: 20, uname: "root" });
    expect(byPath.get("./usr/share/doc/demo-files/hard-b")).toMatchObject({
      type: "hardlink",
      linkTarget: "./usr/share/doc/demo-files/hard-a",
    });
    expect(byPath.get("./var/tmp-sticky/null")).toMatchObject({ type: "char", devMajor: 1, devMinor: 3 });
    expect(byPath.get("./usr/share/doc/demo-files/long-link")?.linkTarget).toHaveLength(174);
  });

  it("reads several xz packages concurrently (the xz decoder is shared)", async () => {
    const names = ["hello_2.10-5_amd64", "netbase_6.5_all", "demo-files_pax", "hello_2.10-5_amd64"];
    const results = await Promise.all(names.map((n) => readDeb(`${debs}${n}.deb`, { listFiles: true })));
    expect(results.map((r) => r.control.get("Package"))).toEqual(["hello", "netbase", "demo-files", "hello"]);
  });
});

describe("readDeb on broken and hostile packages", () => {
  it.each([
    ["a parent-directory entry", [{ name: "./usr/../../etc/passwd", data: "x" }]],
    ["an absolute entry", [{ name: "/etc/passwd", data: "x" }]],
    ["a hard link out of the tree", [{ name: "./evil", type: "1", linkname: "../../etc/shadow" }]],
    [
      "a GNU long name with ..",
      [
        {
          name: "././@LongLink",
          type: "L",
          data: `./${"a/".repeat(60)}../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../x\0`,
        },
        { name: "./placeholder", data: "x" },
      ],
    ],
    [
      "a pax path with ..",
      [
        { name: "./PaxHeaders/x", type: "x", data: "20 path=../../etc/x\n" },
        { name: "./harmless", data: "x" },
      ],
    ],
  ])("refuses %s with DEB_UNSAFE_PATH", async (_what, entries) => {
    const path = writeTemp(makeDeb(entries));
    expect(await codeOf(readDeb(path, { listFiles: true }))).toBe("DEB_UNSAFE_PATH");
  });

  it("accepts symbolic links that point upwards or to absolute paths (normal in packages)", async () => {
    const path = writeTemp(makeDeb([{ name: "./usr/share/doc/x/link", type: "2", linkname: "../../../../etc/x" }]));
    const info = await readDeb(path, { listFiles: true });
    expect(info.files?.[0]).toMatchObject({ type: "symlink", linkTarget: "../../../../etc/x" });
  });

  it("refuses every truncation of a real package with DEB_INVALID", async () => {
    const bytes = readFileSync(`${debs}hello_2.10-5_amd64.deb`);
    for (const cut of [0, 7, 8, 30, 68, 100, 500, 1500, bytes.length - 20_000, bytes.length - 1]) {
      const path = writeTemp(bytes.subarray(0, cut));
      expect(`${cut}: ${await codeOf(readDeb(path, { listFiles: true }))}`).toBe(`${cut}: DEB_INVALID`);
    }
  });

  it.each([
    ["a file that is not an ar archive", Buffer.from("hello world, I am not a package\n")],
    ["a wrong format version", ar([["debian-binary", Buffer.from("3.0\n")]])],
    [
      "a missing data member",
      ar([
        ["debian-binary", Buffer.from("2.0\n")],
        ["control.tar.gz", gzipSync(tar([{ name: "./control", data: "Package: a\nVersion: 1\nArchitecture: all\n" }]))],
      ]),
    ],
    [
      "members in the wrong order",
      ar([
        ["debian-binary", Buffer.from("2.0\n")],
        ["data.tar.gz", gzipSync(tar([]))],
        ["control.tar.gz", gzipSync(tar([]))],
      ]),
    ],
    [
      "a control.tar without control",
      ar([
        ["debian-binary", Buffer.from("2.0\n")],
        ["control.tar.gz", gzipSync(tar([{ name: "./md5sums", data: "" }]))],
        ["data.tar.gz", gzipSync(tar([]))],
      ]),
    ],
    ["a control file without Version", makeDeb([], "Package: demo\nArchitecture: all\n")],
    ["a control file that is not deb822", makeDeb([], "this is\nnot a control file\n")],
    [
      "garbage instead of gzip",
      ar([
        ["debian-binary", Buffer.from("2.0\n")],
        ["control.tar.gz", Buffer.from("not gzip at all")],
        ["data.tar.gz", Buffer.from("x")],
      ]),
    ],
  ])("refuses %s with DEB_INVALID", async (_what, bytes) => {
    expect(await codeOf(readDeb(writeTemp(bytes), { listFiles: true }))).toBe("DEB_INVALID");
  });

  it("refuses a tar header whose checksum is wrong", async () => {
    const data = tar([{ name: "./file", data: "content" }]);
    data[0] = "X".charCodeAt(0);
    const bytes = ar([
      ["debian-binary", Buffer.from("2.0\n")],
      ["control.tar.gz", gzipSync(tar([{ name: "./control", data: "Package: a\nVersion: 1\nArchitecture: all\n" }]))],
      ["data.tar", data],
    ]);
    const error = await readDeb(writeTemp(bytes), { listFiles: true }).catch((e: unknown) => e);
    expect(isCodedError(error, "DEB_INVALID") && error.message).toMatch(/checksum mismatch/);
  });

  it("refuses a data entry that claims more bytes than there are", async () => {
    const bytes = makeDeb([{ name: "./big", data: "tiny", size: 1_000_000_000 }]);
    expect(await codeOf(readDeb(writeTemp(bytes), { listFiles: true }))).toBe("DEB_INVALID");
  });

  it("names unsupported compressions", async () => {
    const control = gzipSync(tar([{ name: "./control", data: "Package: a\nVersion: 1\nArchitecture: all\n" }]));
    const bz2 = ar([
      ["debian-binary", Buffer.from("2.0\n")],
      ["control.tar.gz", control],
      ["data.tar.bz2", Buffer.from("BZh9")],
    ]);
    expect(await codeOf(readDeb(writeTemp(bz2), { listFiles: true }))).toBe("DEB_COMPRESSION_UNSUPPORTED");
    // without the file list, data.tar is not decoded and the control fields are still readable
    expect((await readDeb(writeTemp(bz2))).control.get("Package")).toBe("a");
    const weird = ar([
      ["debian-binary", Buffer.from("2.0\n")],
      ["control.tar.rar", control],
      ["data.tar.gz", Buffer.alloc(0)],
    ]);
    expect(await codeOf(readDeb(writeTemp(weird)))).toBe("DEB_COMPRESSION_UNSUPPORTED");
  });

  it("refuses a zstd frame that asks for a huge window before allocating it", async () => {
    const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf8, 0x01, 0x00, 0x00]);
    const control = gzipSync(tar([{ name: "./control", data: "Package: a\nVersion: 1\nArchitecture: all\n" }]));
    const bytes = ar([
      ["debian-binary", Buffer.from("2.0\n")],
      ["control.tar.gz", control],
      ["data.tar.zst", frame],
    ]);
    expect(await codeOf(readDeb(writeTemp(bytes), { listFiles: true }))).toBe("DEB_COMPRESSION_UNSUPPORTED");
  });

  it("still reads xz packages after a corrupt xz member (the shared decoder lock is released)", async () => {
    const hello = readFileSync(`${debs}hello_2.10-5_amd64.deb`);
    const corrupt = Buffer.from(hello);
    corrupt.fill(0x55, 2000, 2400); // inside data.tar.xz
    expect(await codeOf(readDeb(writeTemp(corrupt), { listFiles: true }))).toBe("DEB_INVALID");
    expect((await readDeb(`${debs}hello_2.10-5_amd64.deb`, { listFiles: true })).files).toHaveLength(
      parseListing(readFileSync(`${debs}hello_2.10-5_amd64.contents`, "utf8")).length,
    );
  });

  it("gives DEB_INVALID for a path that does not exist", async () => {
    expect(await codeOf(readDeb(join(tmp, "missing.deb")))).toBe("DEB_INVALID");
  });
});
