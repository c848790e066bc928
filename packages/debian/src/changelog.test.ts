import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { afterAll, describe, expect, it } from "vitest";
import { parseChangelogDate, parseChangelogEntry, readChangelogEntry } from "./changelog.js";
import { parseDeb822Single } from "./deb822.js";

const fixtures = new URL("./__fixtures__/", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "changelog-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return "no error";
  } catch (error) {
    if (!isCodedError(error)) throw error;
    return error.code;
  }
}

describe("parseChangelogEntry agrees with dpkg-parsechangelog", () => {
  it.each([
    ["apt.changelog", "apt.changelog.parsed"],
    ["demo-upload-src/debian/changelog", "demo-upload.changelog.parsed"],
  ])("%s", async (file, parsed) => {
    const expected = parseDeb822Single(readFileSync(join(fixtures, parsed), "utf8"));
    const entry = await readChangelogEntry(join(fixtures, file));
    expect(entry.source).toBe(expected.get("Source"));
    expect(entry.version).toBe(expected.get("Version"));
    expect(entry.distribution).toBe(expected.get("Distribution"));
    expect(entry.urgency).toBe(expected.get("Urgency"));
    expect(entry.maintainer).toBe(expected.get("Maintainer"));
    expect(entry.date).toBe(expected.get("Date"));
    expect(entry.timestamp).toBe(Number(expected.get("Timestamp")));
    expect(entry.closes.join(" ")).toBe(expected.get("Closes") ?? "");
    expect(entry.changes).toBe(expected.get("Changes")!.replace(/^\n/, ""));
  });
});

describe("changelog details", () => {
  it("reads several distributions and extra header items", () => {
    const entry = parseChangelogEntry(
      "foo (1:2.0-1+b1) unstable experimental; urgency=low, binary-only=yes\n\n  * Rebuild.\n\n -- A B <a@b.c>  Sat, 1 Jan 2000 00:00:00 -0130\n",
    );
    expect(entry.distributions).toEqual(["unstable", "experimental"]);
    expect(entry.metadata).toEqual({ urgency: "low", "binary-only": "yes" });
    expect(entry.timestamp).toBe(946684800 + 5400);
  });

  it("parses RFC 2822 dates with offsets", () => {
    expect(parseChangelogDate("Tue, 14 Nov 2023 22:13:20 +0000")).toBe(1700000000);
    expect(parseChangelogDate("Tue, 14 Nov 2023 23:13:20 +0100")).toBe(1700000000);
    expect(parseChangelogDate("14 Nov 2023 22:13:20")).toBeUndefined();
    expect(parseChangelogDate("Tue, 14 Foo 2023 22:13:20 +0000")).toBeUndefined();
  });

  it.each([
    ["an empty file", ""],
    ["a header without urgency", "foo (1.0) unstable\n\n  * x\n\n -- A <a@b>  Tue, 14 Nov 2023 22:13:20 +0000\n"],
    ["an invalid version", "foo (1.0_x) unstable; urgency=low\n\n  * x\n\n -- A <a@b>  Tue, 14 Nov 2023 22:13:20 +0000\n"],
    ["no trailer", "foo (1.0) unstable; urgency=low\n\n  * x\n"],
    ["a malformed date", "foo (1.0) unstable; urgency=low\n\n  * x\n\n -- A <a@b>  yesterday\n"],
    ["a second header before the trailer", "foo (1.0) unstable; urgency=low\nfoo (0.9) unstable; urgency=low\n"],
  ])("refuses %s with CHANGELOG_INVALID", (_what, text) => {
    expect(codeOf(() => parseChangelogEntry(text))).toBe("CHANGELOG_INVALID");
  });

  it("reads only the first entry of a long changelog file", async () => {
    const first = readFileSync(join(fixtures, "demo-upload-src/debian/changelog"), "utf8");
    const path = join(tmp, "changelog");
    // a broken tail far behind the first entry is never looked at
    writeFileSync(path, first + "\n".repeat(10) + "garbage that is not a changelog\n".repeat(100_000));
    expect((await readChangelogEntry(path)).version).toBe("1.0");
    expect(await readChangelogEntry(join(tmp, "missing")).catch((e: unknown) => isCodedError(e) && e.code)).toBe("CHANGELOG_INVALID");
  });
});
