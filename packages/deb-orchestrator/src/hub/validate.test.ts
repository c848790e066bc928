import { describe, expect, it } from "vitest";
import { parseSubmittedDsc } from "./submitted-source.js";
import { checkFileName, checkName, checkPackageName, checkVersion } from "./validate.js";

describe("request validation", () => {
  it("accepts Debian versions and names and rejects broken ones with a coded error", () => {
    for (const ok of ["1.0", "1:2.10-3", "2.10-3+deb13u1", "1.0~rc1-1", "0.9+git20240101.abc-2~bpo12+1"]) expect(checkVersion(ok)).toBe(ok);
    for (const bad of ["", "a1.0", "1.0-", "1:", "1.0 1", "1.0/2", "x:1.0", "1.0-1_2"])
      expect(() => checkVersion(bad)).toThrow(expect.objectContaining({ code: "VERSION_INVALID" }));
    for (const ok of ["hello", "libc6", "g++-14", "foo.bar+baz"]) expect(checkPackageName(ok)).toBe(ok);
    for (const bad of ["Hello", "a", "-x", "a_b", "a/b", "..", "x".repeat(200)])
      expect(() => checkPackageName(bad)).toThrow(expect.objectContaining({ code: "NAME_INVALID" }));
    for (const bad of ["", "a b", "../x", "x/y", "-x", "x".repeat(65)])
      expect(() => checkName(bad, "tag")).toThrow(expect.objectContaining({ code: "NAME_INVALID" }));
    for (const bad of ["../a.dsc", "/etc/passwd", ".hidden", "a/b.deb", "a..b", "a\u0000b"])
      expect(() => checkFileName(bad)).toThrow(expect.objectContaining({ code: "PATH_INVALID" }));
    expect(checkFileName("hello_2.10-3_amd64.deb")).toBe("hello_2.10-3_amd64.deb");
  });

  it("reads what the hub needs from a signed .dsc", () => {
    const sha = "a".repeat(64);
    const dsc = [
      "-----BEGIN PGP SIGNED MESSAGE-----",
      "Hash: SHA512",
      "",
      "Format: 3.0 (quilt)",
      "Source: hello",
      "Binary: hello",
      "Architecture: any",
      "Version: 2.10-3",
      "Maintainer: Santiago Vila <sanvila@debian.org>",
      "Build-Depends: debhelper-compat (= 13)",
      "Checksums-Sha256:",
      ` ${sha} 1000 hello_2.10.orig.tar.gz`,
      ` ${sha} 200 hello_2.10-3.debian.tar.xz`,
      "Files:",
      ` ${"b".repeat(32)} 1000 hello_2.10.orig.tar.gz`,
      ` ${"b".repeat(32)} 200 hello_2.10-3.debian.tar.xz`,
      "",
      "-----BEGIN PGP SIGNATURE-----",
      "",
      "xyz",
      "-----END PGP SIGNATURE-----",
    ].join("\n");
    const { source, version, architectures, files } = parseSubmittedDsc(dsc);
    expect({ source, version, architectures, files: files.map(({ sha256, size, name }) => ({ sha256, size, name })) }).toEqual({
      source: "hello",
      version: "2.10-3",
      architectures: ["any"],
      files: [
        { sha256: sha, size: 1000, name: "hello_2.10.orig.tar.gz" },
        { sha256: sha, size: 200, name: "hello_2.10-3.debian.tar.xz" },
      ],
    });
    expect(() => parseSubmittedDsc("Source: hello\nVersion: 1.0\n")).toThrow(expect.objectContaining({ code: "SOURCE_INVALID" }));
    // a listed file that leaves the directory is refused by the debian parser (its names are plain file names)
    const traversing = `Format: 1.0\nSource: hello\nMaintainer: x <x@example.org>\nVersion: 1.0\nArchitecture: any\nChecksums-Sha256:\n ${sha} 1 ../../etc/passwd\nFiles:\n ${"b".repeat(32)} 1 ../../etc/passwd\n`;
    expect(() => parseSubmittedDsc(traversing)).toThrow(
      expect.objectContaining({ code: "SOURCE_INVALID", message: expect.stringContaining("plain file name") }),
    );
    // Build-Depends is read too: a malformed relation is refused before any build starts
    expect(() => parseSubmittedDsc(dsc.replace("debhelper-compat (= 13)", "debhelper-compat (= 13"))).toThrow(
      expect.objectContaining({ code: "SOURCE_INVALID", message: expect.stringContaining("Build-Depends") }),
    );
  });
});
