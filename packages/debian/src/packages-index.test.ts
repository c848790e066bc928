import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { readDeb } from "./deb-file.js";
import { Paragraph, parseDeb822, parseDeb822Single } from "./deb822.js";
import { packagesStanza, sourcesStanza } from "./packages-index.js";
import { stripSignature } from "./signed-message.js";

const fixturePath = (name: string) => new URL(`./__fixtures__/apt-repository/${name}`, import.meta.url).pathname;

describe("Packages stanzas", () => {
  it("match what apt-ftparchive wrote for the same .deb, field by field and in order", async () => {
    // field-order.deb has nearly every field apt knows, in scrambled order, plus unknown ones;
    // field-order.apt-ftparchive is `apt-ftparchive packages` output for it (apt 2.6)
    const deb = await readDeb(fixturePath("field-order.deb"));
    const [expected] = parseDeb822(readFileSync(fixturePath("field-order.apt-ftparchive"), "utf8"));
    const stanza = packagesStanza(deb.control, {
      filename: expected!.get("Filename")!,
      size: deb.size,
      md5: deb.md5,
      sha1: deb.sha1,
      sha256: deb.sha256,
      sha512: deb.sha512,
    });
    expect(stanza.entries()).toEqual(expected!.entries());
    expect(stanza.toString()).toBe(expected!.toString());
  });

  it("replaces file fields from the control file and leaves out SHA1/SHA512 unless given", () => {
    const control = new Paragraph({ Description: "d", Package: "p", Version: "1", Architecture: "all", Size: "1", SHA256: "bogus" });
    const stanza = packagesStanza(control, { filename: "pool/main/p/p/p_1_all.deb", size: 10, md5: "m", sha256: "s" });
    expect(stanza.names()).toEqual(["Package", "Architecture", "Version", "Filename", "Size", "MD5sum", "SHA256", "Description"]);
    expect(stanza.get("SHA256")).toBe("s");
  });

  it("names the file when the control lacks a required field", () => {
    expect(() => packagesStanza(new Paragraph({ Package: "p" }), { filename: "x.deb", size: 1, md5: "m", sha256: "s" })).toThrow(
      /x\.deb has no Version/,
    );
  });
});

describe("Sources stanzas", () => {
  it("rename Source to Package and list the .dsc first", () => {
    const dsc = parseDeb822Single(stripSignature(readFileSync(new URL("./__fixtures__/hello_2.10-5.dsc", import.meta.url), "utf8")));
    const files = dsc.lines("Checksums-Sha256").map((line) => {
      const [sha256, size, name] = line.split(" ");
      const md5 = dsc
        .lines("Files")
        .find((l) => l.endsWith(` ${name}`))!
        .split(" ")[0]!;
      return { name: name!, size: Number(size), md5, sha256: sha256! };
    });
    const stanza = sourcesStanza(
      dsc,
      "pool/main/h/hello",
      { name: "hello_2.10-5.dsc", size: 1736, md5: "m".repeat(32), sha256: "s".repeat(64) },
      files,
    );
    // the order apt-ftparchive sources writes for this .dsc
    expect(stanza.names()).toEqual([
      "Package",
      "Format",
      "Binary",
      "Architecture",
      "Version",
      "Maintainer",
      "Standards-Version",
      "Build-Depends",
      "Testsuite",
      "Testsuite-Triggers",
      "Homepage",
      "Vcs-Browser",
      "Vcs-Git",
      "Directory",
      "Package-List",
      "Files",
      "Checksums-Sha256",
    ]);
    expect(stanza.get("Package")).toBe("hello");
    expect(stanza.lines("Files")[0]).toBe(`${"m".repeat(32)} 1736 hello_2.10-5.dsc`);
    expect(stanza.lines("Checksums-Sha256")).toHaveLength(4);
  });
});
