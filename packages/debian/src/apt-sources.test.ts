import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  defaultMirror,
  formatDeb822Sources,
  formatOneLineSource,
  parseDeb822Sources,
  parseOneLineSources,
  readSystemSources,
} from "./apt-sources.js";

const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "apt-sources-"));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe("APT sources", () => {
  it("parses one-line entries with options and comments", () => {
    const [entry, src] = parseOneLineSources(
      "# comment\ndeb [arch=amd64,arm64 signed-by=/k.gpg] http://mirror.example/debian trixie main contrib # trailing\ndeb-src http://mirror.example/debian trixie main\n",
    );
    expect(entry).toMatchObject({
      types: ["deb"],
      uris: ["http://mirror.example/debian"],
      suites: ["trixie"],
      components: ["main", "contrib"],
      options: { Architectures: "amd64 arm64", "Signed-By": "/k.gpg" },
      origin: "sources.list:2",
    });
    expect(src?.types).toEqual(["deb-src"]);
    expect(formatOneLineSource(entry!)).toEqual([
      "deb [arch=amd64,arm64 signed-by=/k.gpg] http://mirror.example/debian trixie main contrib",
    ]);
  });

  it("names the file and line of a malformed one-line entry", () => {
    expect(() => parseOneLineSources("deb\n", "/etc/apt/sources.list")).toThrow(
      /\/etc\/apt\/sources.list:1: expected "deb \[options\] URI SUITE/,
    );
  });

  it("parses and writes deb822 .sources", () => {
    const text =
      "Types: deb deb-src\nURIs: http://m.example/debian\nSuites: trixie trixie-updates\nComponents: main\nSigned-By: /usr/share/keyrings/k.gpg\n";
    const [entry] = parseDeb822Sources(text, "x.sources");
    expect(entry).toMatchObject({
      types: ["deb", "deb-src"],
      suites: ["trixie", "trixie-updates"],
      options: { "Signed-By": "/usr/share/keyrings/k.gpg" },
    });
    expect(formatDeb822Sources([entry!])).toBe(text);
    expect(() => parseDeb822Sources("Types: rpm\nURIs: x\nSuites: y\n", "x.sources")).toThrow(/x.sources:1: Types must list deb/);
  });

  it("finds the Debian mirror, skipping disabled files, security and third-party repositories", async () => {
    const root = fakeRoot({
      "etc/apt/sources.list.d/debian.sources":
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n",
      "etc/apt/sources.list.d/aaa-vendor.list": "deb https://vendor.example/apt stable-vendor main\n",
      "etc/apt/sources.list.d/zzz.list.disabled": "deb http://wrong.example/debian bookworm main\n",
    });
    expect(await defaultMirror(root)).toBe("http://mirror.example/debian");
    expect((await readSystemSources(root)).map((s) => s.uris[0])).not.toContain("http://wrong.example/debian");
  });

  it("says so when there is no mirror", async () => {
    await expect(defaultMirror(fakeRoot({}))).rejects.toThrow(/no Debian mirror found/);
  });

  it("finds this host's mirror", async () => {
    // the machine's own sources: a real file in the format apt reads
    expect(await defaultMirror()).toMatch(/^(https?|file):\/\//);
  });
});
