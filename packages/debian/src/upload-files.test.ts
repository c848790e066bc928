import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { codeOf } from "../../../test/error-code.js";
import { readChangelogEntry } from "./changelog.js";
import {
  buildChanges,
  changesFileName,
  parseBuildinfo,
  parseChanges,
  readBuildinfo,
  readChanges,
  verifyUploadFiles,
  writeChanges,
} from "./upload-files.js";

const fixtures = new URL("./__fixtures__/", import.meta.url).pathname;
const upload = join(fixtures, "upload");
const tmp = mkdtempSync(join(tmpdir(), "upload-files-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const at = (name: string) => join(upload, name);
const changesText = () => readFileSync(at("demo-upload_1.0_amd64.changes"), "utf8");

let n = 0;
function uploadCopy(): string {
  const dir = join(tmp, `u${n++}`);
  mkdirSync(dir);
  for (const f of readdirSync(upload)) copyFileSync(at(f), join(dir, f));
  return dir;
}

describe("parseChanges", () => {
  it("reads the .changes dpkg-genchanges wrote", async () => {
    const c = await readChanges(at("demo-upload_1.0_amd64.changes"));
    expect(c).toMatchObject({
      format: "1.8",
      source: "demo-upload",
      binaries: ["demo-doc", "demo-tool"],
      architectures: ["source", "all", "amd64"],
      version: "1.0",
      distributions: ["unstable"],
      urgency: "medium",
      changedBy: "Changer Person <changer@example.org>",
      closes: [999, 1000001],
    });
    expect(c.descriptions).toEqual([
      { package: "demo-doc", summary: "documentation of the demo tool" },
      { package: "demo-tool", summary: "demo tool for the upload-file tests" },
    ]);
    expect(c.files.map((f) => [f.name, f.section, f.priority])).toEqual([
      ["demo-upload_1.0.dsc", "utils", "optional"],
      ["demo-upload_1.0.tar.xz", "utils", "optional"],
      ["demo-doc_1.0_all.deb", "doc", "optional"],
      ["demo-tool_1.0_amd64.deb", "utils", "optional"],
      ["demo-upload_1.0_amd64.buildinfo", "utils", "optional"],
    ]);
    expect(c.files.every((f) => f.md5 && f.sha1 && f.sha256)).toBe(true);
  });

  it("splits a binNMU's Source: name (version)", () => {
    const c = parseChanges(changesText().replace("Source: demo-upload", "Source: demo-upload (0.9)"));
    expect([c.source, c.sourceVersion]).toEqual(["demo-upload", "0.9"]);
  });

  it.each([
    ["no Files", (t: string) => t.replace(/^Files:[\s\S]*$/m, "")],
    ["four-column Files", (t: string) => t.replace(" utils optional demo-upload_1.0.dsc", " utils demo-upload_1.0.dsc")],
    ["a bad Closes", (t: string) => t.replace("Closes: 999", "Closes: #999")],
    ["no Distribution", (t: string) => t.replace(/^Distribution: .*\n/m, "")],
  ])("refuses %s with CONTROL_FILE_INVALID", (_what, edit) => {
    expect(() => parseChanges(edit(changesText()))).toThrow(expect.objectContaining({ code: "CONTROL_FILE_INVALID" }));
  });
});

describe("parseBuildinfo", () => {
  it("reads checksums, installed build dependencies and the environment", async () => {
    const b = await readBuildinfo(at("demo-upload_1.0_amd64.buildinfo"));
    expect(b).toMatchObject({ format: "1.0", source: "demo-upload", version: "1.0", buildArchitecture: "amd64", buildOrigin: "Debian" });
    expect(b.architectures).toEqual(["all", "amd64", "source"]);
    expect(b.files.map((f) => f.name)).toEqual(["demo-upload_1.0.dsc", "demo-doc_1.0_all.deb", "demo-tool_1.0_amd64.deb"]);
    expect(b.files[0]!.md5).toBe("718284df1f50ffad9ed44778a3c5b021");
    expect(b.installedBuildDepends.length).toBeGreaterThan(50);
    expect(b.installedBuildDepends.find((p) => p.name === "dpkg-dev")?.version).toMatch(/^1\./);
    expect(b.environment.SOURCE_DATE_EPOCH).toBe("1700000000");
    expect(b.buildTaintedBy).toContain("merged-usr-via-aliased-dirs");
  });

  it("refuses an Installed-Build-Depends entry without an exact version", () => {
    const text = readFileSync(at("demo-upload_1.0_amd64.buildinfo"), "utf8").replace(/^ base-files \(= [^)]*\),$/m, " base-files (>= 1),");
    expect(() => parseBuildinfo(text)).toThrow(expect.objectContaining({ code: "CONTROL_FILE_INVALID" }));
  });

  it("unquotes Environment values", () => {
    const text = readFileSync(at("demo-upload_1.0_amd64.buildinfo"), "utf8").replace(
      ' LANG="C.UTF-8"',
      ' LANG="a \\"quoted\\" \\\\ value"',
    );
    expect(parseBuildinfo(text).environment.LANG).toBe('a "quoted" \\ value');
  });
});

describe("verifyUploadFiles", () => {
  it("accepts an intact upload and its .buildinfo", async () => {
    await verifyUploadFiles(at("demo-upload_1.0_amd64.changes"));
    await verifyUploadFiles(at("demo-upload_1.0_amd64.buildinfo"));
  });

  it("finds a missing or altered file", async () => {
    const dir = uploadCopy();
    const changes = join(dir, "demo-upload_1.0_amd64.changes");
    writeFileSync(join(dir, "demo-doc_1.0_all.deb"), "replaced");
    expect(await codeOf(verifyUploadFiles(changes))).toBe("CHECKSUM_MISMATCH");
    rmSync(join(dir, "demo-doc_1.0_all.deb"));
    expect(await codeOf(verifyUploadFiles(changes))).toBe("LISTED_FILE_MISSING");
  });
});

describe("buildChanges", () => {
  it("writes, byte for byte, the .changes dpkg-genchanges wrote for the same build", async () => {
    const changelog = await readChangelogEntry(join(fixtures, "demo-upload-src/debian/changelog"));
    const out = join(tmp, changesFileName("demo-upload", "1.0", "amd64"));
    const text = await writeChanges(out, {
      files: ["demo-upload_1.0.dsc", "demo-tool_1.0_amd64.deb", "demo-doc_1.0_all.deb", "demo-upload_1.0_amd64.buildinfo"].map(at),
      changelog,
      maintainer: "Demo Maintainer <demo@example.org>",
      sourceSection: "utils",
      sourcePriority: "optional",
    });
    expect(text).toBe(changesText());
    expect(readFileSync(out, "utf8")).toBe(text);
    // what we write, we read back
    expect(parseChanges(text).files).toHaveLength(5);
  });

  it("leaves out Binary and Description for a source-only upload and takes Maintainer from the .dsc", async () => {
    const changelog = await readChangelogEntry(join(fixtures, "demo-upload-src/debian/changelog"));
    const p = await buildChanges({ files: [at("demo-upload_1.0.dsc")], changelog, sourceSection: "utils" });
    expect(p.has("Binary")).toBe(false);
    expect(p.has("Description")).toBe(false);
    expect(p.get("Architecture")).toBe("source");
    expect(p.get("Maintainer")).toBe("Demo Maintainer <demo@example.org>");
    expect(p.lines("Files")).toHaveLength(2);
  });
});
