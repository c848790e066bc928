import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  buildTypeFlag,
  changelogTimestamp,
  isUnsatisfiableAptOutput,
  parsePackageSpec,
  readDscText,
  satisfyArgs,
  upstreamVersion,
} from "./source-input.js";

const fixtures = join(import.meta.dirname, "__fixtures__");

describe("readDscText", () => {
  it("reads a signed .dsc from the archive", async () => {
    const path = join(fixtures, "pigz_2.8-1.dsc");
    const dsc = readDscText(await readFile(path, "utf8"), path);
    expect(dsc.source).toBe("pigz");
    expect(dsc.version).toBe("2.8-1");
    expect(dsc.files.sort()).toEqual(["pigz_2.8-1.debian.tar.xz", "pigz_2.8.orig.tar.xz"]);
    expect(dsc.buildDepends).toContain("zlib1g-dev");
    expect(dsc.buildDepends).not.toContain("\n");
  });

  const dscWith = (field: string, value: string) => `Source: xy\nVersion: 1\n${field}: ${value}\nFiles:\n 00 1 xy_1.tar.xz\n`;

  it("refuses relation fields that are not Debian relations (an apt option, for one), naming the field", () => {
    for (const [field, value] of [
      ["Build-Depends", "-oDPkg::Pre-Invoke::=id >/build/owned"],
      ["Build-Depends-Indep", "foo, --allow-unauthenticated"],
      ["Build-Conflicts", "bar (>= 1) ; rm -rf /"],
      ["Build-Depends-Arch", "baz [amd64"],
    ]) {
      expect(() => readDscText(dscWith(field!, value!), "x.dsc")).toThrow(expect.objectContaining({ code: "DSC_FIELD_INVALID" }));
      expect(() => readDscText(dscWith(field!, value!), "x.dsc")).toThrow(new RegExp(`x.dsc: ${field} is not`));
    }
  });

  it("re-renders relation fields in dpkg-dev's spelling: every element starts with a package name", () => {
    const dsc = readDscText(dscWith("Build-Depends", "debhelper-compat(=13),\n  libfoo-dev [ amd64 ] <!nocheck> |libbar-dev,"), "x.dsc");
    expect(dsc.buildDepends).toBe("debhelper-compat (= 13), libfoo-dev [amd64] <!nocheck> | libbar-dev");
  });

  it("rejects file names that leave the directory", () => {
    const text = "Source: xy\nVersion: 1\nFiles:\n 00 1 ../etc/passwd\n";
    expect(() => readDscText(text, "x.dsc")).toThrow(/unsafe file name/);
  });
});

describe("satisfyArgs", () => {
  const dsc = {
    source: "s",
    version: "1",
    files: [],
    buildDepends: "debhelper-compat (= 13)",
    buildDependsArch: "libz-dev",
    buildDependsIndep: "python3-sphinx",
    buildConflicts: "foo",
    buildConflictsArch: "",
    buildConflictsIndep: "bar",
  };
  it("picks the fields of each build type", () => {
    expect(satisfyArgs(dsc, "binary")).toEqual([
      "debhelper-compat (= 13)",
      "libz-dev",
      "python3-sphinx",
      "Conflicts: foo",
      "Conflicts: bar",
    ]);
    expect(satisfyArgs(dsc, "arch")).toEqual(["debhelper-compat (= 13)", "libz-dev", "Conflicts: foo"]);
    expect(satisfyArgs(dsc, "indep")).toEqual(["debhelper-compat (= 13)", "python3-sphinx", "Conflicts: foo", "Conflicts: bar"]);
    expect(buildTypeFlag("arch")).toBe("--build=any");
    expect(buildTypeFlag("indep")).toBe("--build=all");
  });
});

describe("changelogTimestamp", () => {
  it("takes the first entry's date", async () => {
    const text = await readFile(join(fixtures, "packages/tiny-ok/debian/changelog"), "utf8");
    expect(changelogTimestamp(text)).toBe(Date.UTC(2025, 0, 1, 12) / 1000);
    const two =
      "x (2) unstable; urgency=low\n\n  * b\n\n -- A <a@b>  Tue, 02 Jan 2024 00:00:00 +0100\n\nx (1) unstable; urgency=low\n\n  * a\n\n -- A <a@b>  Mon, 01 Jan 2024 00:00:00 +0000\n";
    expect(changelogTimestamp(two)).toBe(Date.UTC(2024, 0, 1, 23) / 1000);
  });
  it("fails on a changelog without trailer", () => {
    expect(() => changelogTimestamp("x (1) unstable; urgency=low\n")).toThrow(/no trailer line/);
  });
});

describe("small parsers", () => {
  it("reads PACKAGE[=VERSION]", () => {
    expect(parsePackageSpec("hello")).toEqual({ name: "hello" });
    expect(parsePackageSpec("hello=2.10-5")).toEqual({ name: "hello", version: "2.10-5" });
    expect(parsePackageSpec("../etc")).toBeUndefined();
  });
  it("finds the upstream version", () => {
    expect(upstreamVersion("1:2.10-5")).toBe("2.10");
    expect(upstreamVersion("1.0")).toBe("1.0");
    expect(upstreamVersion("1.0-2-3")).toBe("1.0-2");
  });
  it("tells unsatisfiable dependencies from other apt failures", () => {
    expect(isUnsatisfiableAptOutput("E: Unable to satisfy dependencies. Reached two conflicting decisions")).toBe(true);
    expect(isUnsatisfiableAptOutput("Unsatisfied dependencies:\n satisfy:command-line : Depends: nope but it is not installable")).toBe(
      true,
    );
    expect(isUnsatisfiableAptOutput("E: Failed to fetch http://x/y  Connection refused")).toBe(false);
  });
});
