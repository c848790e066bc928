import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { formatRelease, formatReleaseDate, parseRelease, parseReleaseDate, type ReleaseFileEntry } from "./release-file.js";
import { stripSignature } from "./signed-message.js";

const fixture = (name: string) => readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), "utf8");

const FILES: ReleaseFileEntry[] = [
  {
    path: "main/binary-amd64/Packages",
    size: 1234,
    md5: "0123456789abcdef0123456789abcdef",
    sha256: "a".repeat(64),
  },
  {
    path: "main/binary-amd64/Packages.xz",
    size: 200,
    md5: "fedcba9876543210fedcba9876543210",
    sha256: "b".repeat(64),
  },
];

describe("Release dates", () => {
  it("formats RFC 2822 in UTC with two-digit days, as the archive does", () => {
    expect(formatReleaseDate(new Date("2025-05-07T08:03:09Z"))).toBe("Wed, 07 May 2025 08:03:09 UTC");
  });

  it("parses UTC, GMT and numeric zones", () => {
    expect(parseReleaseDate("Wed, 07 May 2025 08:03:09 UTC").toISOString()).toBe("2025-05-07T08:03:09.000Z");
    expect(parseReleaseDate("Thu, 26 Nov 2026 20:03:10 +0000").toISOString()).toBe("2026-11-26T20:03:10.000Z");
    expect(parseReleaseDate("Thu, 26 Nov 2026 22:03:10 +0200").toISOString()).toBe("2026-11-26T20:03:10.000Z");
    expect(() => parseReleaseDate("2025-05-07")).toThrow(/malformed date/);
  });
});

describe("formatRelease", () => {
  const info = {
    origin: "Bootc",
    label: "Bootc",
    suite: "stable",
    codename: "trixie",
    version: "13.1",
    date: new Date("2025-05-17T08:13:49Z"),
    validUntil: new Date("2025-05-24T08:13:49Z"),
    acquireByHash: true,
    architectures: ["amd64", "arm64"],
    components: ["main"],
    description: "Test repository",
  };

  it("writes the archive's field order and checksum layout", () => {
    expect(formatRelease(info, FILES)).toBe(
      [
        "Origin: Bootc",
        "Label: Bootc",
        "Suite: stable",
        "Version: 13.1",
        "Codename: trixie",
        "Date: Sat, 17 May 2025 08:13:49 UTC",
        "Valid-Until: Sat, 24 May 2025 08:13:49 UTC",
        "Acquire-By-Hash: yes",
        "No-Support-for-Architecture-all: Packages",
        "Architectures: amd64 arm64",
        "Components: main",
        "Description: Test repository",
        "MD5Sum:",
        " 0123456789abcdef0123456789abcdef     1234 main/binary-amd64/Packages",
        " fedcba9876543210fedcba9876543210      200 main/binary-amd64/Packages.xz",
        "SHA256:",
        ` ${"a".repeat(64)}     1234 main/binary-amd64/Packages`,
        ` ${"b".repeat(64)}      200 main/binary-amd64/Packages.xz`,
        "",
      ].join("\n"),
    );
  });

  it("leaves out what is not set and refuses a missing checksum", () => {
    const minimal = formatRelease({ suite: "s", date: info.date, architectures: ["amd64"], components: ["main"] }, []);
    expect(minimal).not.toMatch(/Origin|Valid-Until|Acquire-By-Hash/);
    expect(() => formatRelease(info, FILES, ["SHA512"])).toThrow(/has no SHA512 checksum/);
  });

  it("round-trips through parseRelease", () => {
    const parsed = parseRelease(formatRelease(info, FILES));
    expect(parsed.suite).toBe("stable");
    expect(parsed.codename).toBe("trixie");
    expect(parsed.date?.toISOString()).toBe("2025-05-17T08:13:49.000Z");
    expect(parsed.validUntil?.toISOString()).toBe("2025-05-24T08:13:49.000Z");
    expect(parsed.acquireByHash).toBe(true);
    expect(parsed.architectures).toEqual(["amd64", "arm64"]);
    expect([...parsed.files.values()]).toEqual(FILES);
  });
});

describe("parseRelease", () => {
  it("reads Debian's own Release", () => {
    const release = parseRelease(stripSignature(fixture("bookworm-updates.InRelease")));
    expect(release.codename).toBe("bookworm-updates");
    expect(release.components).toEqual(["main", "contrib", "non-free-firmware", "non-free"]);
    const packages = release.files.get("main/binary-amd64/Packages.xz");
    expect(packages?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(packages?.md5).toBeUndefined(); // the archive lists SHA256 only
  });

  it.each([
    ["a short line", "Suite: s\nSHA256:\n abc 12\n", /malformed SHA256 line/],
    ["a bad digest", `Suite: s\nSHA256:\n ${"z".repeat(64)} 12 main/x\n`, /not a 64-digit hex digest/],
    ["two sizes", `Suite: s\nMD5Sum:\n ${"a".repeat(32)} 12 x\nSHA256:\n ${"a".repeat(64)} 13 x\n`, /two sizes/],
    ["two paragraphs", "Suite: s\n\nSuite: t\n", /expected one paragraph/],
  ])("rejects %s", (_what, text, message) => {
    expect(() => parseRelease(text)).toThrow(message);
  });
});
