import { readFileSync } from "node:fs";
import { isCodedError } from "@debian-bootc/core";
import { describe, expect, it } from "vitest";
import { formatDeb822, iterateDeb822, Paragraph, parseDeb822, parseDeb822Single } from "./deb822.js";
import { stripSignature } from "./signed-message.js";

const fixture = (name: string) => readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), "utf8");

describe("parseDeb822", () => {
  it("reads fields, multi-line values and the ' .' empty line", () => {
    const [source, binary] = parseDeb822(fixture("control-with-comments"), { comments: true });
    expect(source?.get("source")).toBe("demo");
    expect(source?.get("Build-Depends")).toBe(
      "debhelper-compat (= 13),\n              libz-dev [!hurd-i386],\n              python3:native <!nocheck>",
    );
    expect(binary?.get("Description")).toBe(
      "demonstration package\nA longer description that runs over\nseveral lines.\n\nSecond paragraph.",
    );
    expect(binary?.line).toBe(13);
  });

  it.each(["control-with-comments", "Packages.excerpt", "Sources.excerpt"])("round-trips %s byte for byte", (name) => {
    const text = fixture(name);
    const paragraphs = parseDeb822(text, { comments: name.startsWith("control") });
    expect(formatDeb822(paragraphs)).toBe(text.replace(/\n+$/, "\n"));
  });

  it("round-trips the signed text of a real .dsc and an InRelease", () => {
    for (const name of ["hello_2.10-5.dsc", "bookworm-updates.InRelease"]) {
      const text = stripSignature(fixture(name));
      expect(formatDeb822(parseDeb822(text))).toBe(text.replace(/\n+$/, "\n"));
    }
  });

  it("gives multi-line fields line by line", () => {
    const dsc = parseDeb822Single(stripSignature(fixture("hello_2.10-5.dsc")));
    const files = dsc.lines("Checksums-Sha256");
    expect(files).toHaveLength(3);
    expect(files[0]).toMatch(/^[0-9a-f]{64} \d+ hello_2\.10\.orig\.tar\.gz$/);
  });

  it("keeps field order and position on change, and re-renders changed fields", () => {
    const p = parseDeb822Single("A: 1\nB: two\n lines\nC: 3\n");
    p.set("b", "changed");
    p.set("D", "new\n\nwith gap");
    expect(p.toString()).toBe("A: 1\nB: changed\nC: 3\nD: new\n .\n with gap\n");
    expect(p.delete("A")).toBe(true);
    expect(p.names()).toEqual(["B", "C", "D"]);
  });

  it("streams a large index paragraph by paragraph", () => {
    const text = Array.from({ length: 1000 }, (_, i) => `Package: p${i}\nVersion: 1.${i}\n`).join("\n");
    let n = 0;
    for (const p of iterateDeb822(text)) {
      expect(p.get("Package")).toBe(`p${n}`);
      n++;
    }
    expect(n).toBe(1000);
  });

  it("accepts CRLF and white-space-only separator lines", () => {
    const ps = parseDeb822("A: 1\r\nB: 2\r\n \t \nC: 3\n");
    expect(ps.map((p) => p.toObject())).toEqual([{ A: "1", B: "2" }, { C: "3" }]);
  });

  const bad: Array<[string, string, RegExp]> = [
    ["continuation first", " x\nA: 1\n", /input:1: continuation line outside a field/],
    ["no colon", "A: 1\nnot a field\n", /input:2: expected "Field: value"/],
    ["duplicate", "A: 1\na: 2\n", /input:2: duplicate field a/],
    ["comment not allowed", "# c\nA: 1\n", /input:1: comment lines are not allowed/],
    ["empty name", ": v\n", /input:1: expected "Field: value"/],
  ];
  it.each(bad)("rejects %s with the line and why", (_label, text, message) => {
    try {
      parseDeb822(text);
      expect.unreachable();
    } catch (error) {
      expect(isCodedError(error, "DEB822_SYNTAX")).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it("refuses a line over the limit instead of buffering it", () => {
    const long = `A: ${"x".repeat(2000)}\n`;
    const error = (() => {
      try {
        parseDeb822(long, { maxLineLength: 1000, source: "Packages" });
      } catch (e) {
        return e;
      }
    })();
    expect(isCodedError(error, "DEB822_TOO_LARGE")).toBe(true);
    expect((error as Error).message).toMatch(/Packages:1: line longer than 1000/);
  });

  it("names the missing field and the paragraph's line", () => {
    const [, second] = parseDeb822("Package: a\n\nVersion: 1\n");
    expect(() => second?.require("Package", "Packages")).toThrow(/Packages:3: paragraph has no Package field/);
  });

  it("builds paragraphs from objects and entries", () => {
    expect(new Paragraph({ Package: "x", Version: "1" }).toString()).toBe("Package: x\nVersion: 1\n");
    expect(() => new Paragraph([["bad name", "1"]])).toThrow(/invalid field name/);
  });
});
