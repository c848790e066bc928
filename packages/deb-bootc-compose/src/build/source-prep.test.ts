import { iterateDeb822 } from "@debian-bootc/debian";
import { describe, expect, it } from "vitest";
import { stanzasNaming } from "./source-prep.js";

const SOURCES = [
  "Package: less\nBinary: less\nVersion: 668-1\nDirectory: pool/main/l/less\n",
  "Package: lesspipe\nBinary: lesspipe\nVersion: 1.0-1\n",
  "Package: harmless\nBinary: harmless, harmless-doc\nVersion: 2\n Build-Depends: less\n",
  "Package: hello\nBinary: hello\nVersion: 2.10-3\n",
  "Package: less\nBinary: less\nVersion: 590-2\n",
  "Package: zsh\nVersion: 5.9-8\nFiles:\n abc 1 zsh_5.9.orig.tar.xz\n",
].join("\n");

const wanted = (paragraphs: Iterable<{ get(name: string): string | undefined }>, names: Set<string>) =>
  [...paragraphs].filter((p) => names.has(p.get("Package") ?? "")).map((p) => `${p.get("Package")} ${p.get("Version")}`);

describe("stanzasNaming (the Sources paragraphs worth parsing for some source names)", () => {
  it("finds every stanza of the wanted names that a full parse finds, and no other", () => {
    for (const names of [new Set(["less"]), new Set(["hello", "zsh"]), new Set(["absent"])]) {
      expect(wanted(stanzasNaming(SOURCES, names, "Sources"), names)).toEqual(wanted(iterateDeb822(SOURCES), names));
    }
    expect(wanted(stanzasNaming(SOURCES, new Set(["less"]), "Sources"), new Set(["less"]))).toEqual(["less 668-1", "less 590-2"]);
  });

  it("parses only the paragraphs that contain a wanted name", () => {
    expect([...stanzasNaming(SOURCES, new Set(["hello"]), "Sources")].map((p) => p.get("Package"))).toEqual(["hello"]);
  });

  it("keeps a paragraph whole across several blank lines and without a final newline", () => {
    const text = "Package: a\nVersion: 1\n\n\n\nPackage: b\nVersion: 2\nFiles:\n x 1 b.dsc";
    expect(wanted(stanzasNaming(text, new Set(["b"]), "Sources"), new Set(["b"]))).toEqual(["b 2"]);
    expect([...stanzasNaming(text, new Set(["b"]), "Sources")][0]!.get("Files")).toContain("b.dsc");
  });
});
