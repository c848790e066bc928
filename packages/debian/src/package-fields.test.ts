import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { isCodedError } from "@debian-bootc/core";
import { describe, expect, it } from "vitest";
import { parseDeb822 } from "./deb822.js";
import { checkArchitecture, checkBinaryIdentity, checkPackageName, checkSourceName, checkVersion } from "./package-fields.js";
import { parseRelations } from "./relation.js";
import { dscFileName } from "./source-package.js";
import { changesFileName } from "./upload-files.js";

const fixtures = new URL("./__fixtures__/", import.meta.url).pathname;
const text = (name: string) => readFileSync(join(fixtures, name), "utf8");

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return isCodedError(error) ? error.code : `uncoded ${String(error)}`;
  }
}

describe("package field values against real archive data", () => {
  it("accepts every package name and version of the Packages and Sources excerpts", () => {
    const stanzas = [...parseDeb822(text("Packages.excerpt")), ...parseDeb822(text("Sources.excerpt"))];
    expect(stanzas.length).toBeGreaterThan(10);
    for (const p of stanzas) {
      expect(checkPackageName(p.require("Package"))).toBe(p.require("Package"));
      expect(checkVersion(p.require("Version"))).toBe(p.require("Version"));
      for (const arch of p.require("Architecture").split(/\s+/)) {
        if (arch === "any" || arch.includes("any")) continue; // wildcards are not one architecture
        expect(checkArchitecture(arch, "Architecture", undefined, { allowAll: true })).toBe(arch);
      }
    }
  });

  it("accepts every name in trixie's relation fields", () => {
    let names = 0;
    for (const line of text("relations-trixie.txt").split("\n")) {
      if (!line.includes(": ") || line.startsWith("#")) continue;
      for (const group of parseRelations(line.slice(line.indexOf(": ") + 2)))
        for (const relation of group) {
          expect(checkPackageName(relation.name)).toBe(relation.name);
          names++;
        }
    }
    expect(names).toBeGreaterThan(1000);
  });

  it("accepts every version of trixie main that dpkg accepts without a warning", () => {
    const versions = new Set<string>();
    for (const line of gunzipSync(readFileSync(join(fixtures, "version-pairs.tsv.gz")))
      .toString("utf8")
      .split("\n")) {
      if (line.startsWith("#") || line === "") continue;
      const [a, b, verdict] = line.split("\t");
      if (verdict === "E") continue;
      versions.add(a!);
      versions.add(b!);
    }
    expect(versions.size).toBeGreaterThan(10_000);
    const refused = [...versions].filter((v) => codeOf(() => checkVersion(v)) !== undefined);
    // the differential fixture also holds versions dpkg only warns about (not valid in a Version field)
    expect(refused.every((v) => !/^[0-9][A-Za-z0-9.+~-]*$/.test(v.replace(/^[0-9]+:/, "")))).toBe(true);
    expect(refused.length).toBeLessThan(versions.size / 100);
  });

  it("accepts the architectures Debian and its ports use, and all where allowed", () => {
    for (const arch of ["amd64", "arm64", "armhf", "i386", "ppc64el", "riscv64", "s390x", "hurd-i386", "kfreebsd-amd64", "loong64"])
      expect(checkArchitecture(arch)).toBe(arch);
    expect(checkArchitecture("all", "Architecture", undefined, { allowAll: true })).toBe("all");
  });
});

describe("hostile package field values", () => {
  it("refuses the path traversal version a builder sent, and every other path-making version", () => {
    for (const version of [
      "1/../../../../../../../../../hub-escaped",
      "../1.0",
      "1.0/x",
      "1.0\0",
      "1.0\n",
      "1.0 ",
      "",
      ":1.0",
      "1:",
      "1.0-",
      "x1.0",
      `1.${"0".repeat(200)}`,
      "1.0_amd64",
      "1:2:3",
    ])
      expect(
        codeOf(() => checkVersion(version)),
        version,
      ).toBe("VERSION_INVALID");
  });

  it("refuses names that are not Debian package names, with the field and file in the message", () => {
    for (const name of ["<script>alert(4)</script>", "a", "-x", ".x", "../x", "x/y", "Hello", "x_y", "x y", "", "x\n", "a".repeat(101)])
      expect(
        codeOf(() => checkPackageName(name)),
        name,
      ).toBe("PACKAGE_NAME_INVALID");
    expect(() => checkSourceName("../evil", "Source", "x.dsc")).toThrow(/x\.dsc: Source: "\.\.\/evil" is not a Debian package name/);
    expect(codeOf(() => checkPackageName(5 as unknown as string))).toBe("PACKAGE_NAME_INVALID");
  });

  it("refuses architecture wildcards, all where not allowed, and anything that is not a name", () => {
    for (const arch of ["any", "linux-any", "any-amd64", "source", "all", "AMD64", "amd64/..", "../amd64", "-amd64", "", "a".repeat(33)])
      expect(
        codeOf(() => checkArchitecture(arch)),
        arch,
      ).toBe("ARCHITECTURE_INVALID");
  });

  it("the file names made of fields (.dsc, .changes) check them first", () => {
    expect(dscFileName("hello", "1:2.10-5")).toBe("hello_2.10-5.dsc");
    expect(changesFileName("hello", "2.10-5", "source")).toBe("hello_2.10-5_source.changes");
    expect(codeOf(() => dscFileName("hello", "1/../../../x"))).toBe("VERSION_INVALID");
    expect(codeOf(() => changesFileName("../hello", "1.0", "amd64"))).toBe("PACKAGE_NAME_INVALID");
    expect(codeOf(() => changesFileName("hello", "1.0", "../amd64"))).toBe("ARCHITECTURE_INVALID");
  });

  it("checks a binary's identity as one, the source defaulting to the package", () => {
    expect(checkBinaryIdentity({ package: "hello", version: "2.10-5", architecture: "amd64" })).toEqual({
      package: "hello",
      version: "2.10-5",
      architecture: "amd64",
      source: "hello",
    });
    expect(codeOf(() => checkBinaryIdentity({ package: "hello", version: "2.10-5", architecture: "amd64", source: "x/y" }))).toBe(
      "PACKAGE_NAME_INVALID",
    );
  });
});
