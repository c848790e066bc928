import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { run } from "@debian-bootc/core";
import { afterAll, describe, expect, it } from "vitest";
import { parseChangelogEntry, readChangelogEntry } from "./changelog.js";
import { parseDeb822Single } from "./deb822.js";
import { verifyDscFiles } from "./source-package.js";
import { buildChanges, readBuildinfo, readChanges, verifyUploadFiles } from "./upload-files.js";

/**
 * Differential tests against dpkg-dev: a tiny source package (no debhelper needed) is built with
 * dpkg-buildpackage as a full, a binary-only and a source-only upload; the .changes we write from the
 * same files must equal dpkg-genchanges's byte for byte. The changelogs shipped on this host are read by
 * dpkg-parsechangelog and by us.
 */
const fixtures = new URL("./__fixtures__/", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "upload-files-system-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const env = { ...process.env, LC_ALL: "C.UTF-8" };

async function build(mode: string[]): Promise<string> {
  const dir = mkdtempSync(join(work, "build-"));
  const tree = join(dir, "demo-upload-1.0");
  cpSync(join(fixtures, "demo-upload-src"), tree, { recursive: true });
  await run("dpkg-buildpackage", ["-us", "-uc", "-d", ...mode], { cwd: tree, env, debianPackage: "dpkg-dev" });
  return dir;
}

describe("buildChanges against dpkg-genchanges", () => {
  it.each([
    ["full", [] as string[]],
    ["binary-only", ["-b"]],
    ["source-only", ["-S"]],
  ])("%s upload", async (_name, mode) => {
    const dir = await build(mode);
    const files = readdirSync(dir).filter((f) => /\.(dsc|deb|buildinfo)$/.test(f));
    const changesName = readdirSync(dir).find((f) => f.endsWith(".changes"))!;
    const theirs = readFileSync(join(dir, changesName), "utf8");
    const changelog = await readChangelogEntry(join(dir, "demo-upload-1.0/debian/changelog"));
    const control = parseDeb822Single(readFileSync(join(fixtures, "demo-upload-src/debian/control"), "utf8").split("\n\n")[0]!);
    const ours = await buildChanges({
      files: files.map((f) => join(dir, f)),
      changelog,
      maintainer: control.get("Maintainer")!,
      sourceSection: control.get("Section")!,
      sourcePriority: control.get("Priority")!,
    });
    expect(ours.toString()).toBe(theirs);
    // the files dpkg wrote verify against what dpkg listed
    await verifyUploadFiles(join(dir, changesName));
    const parsed = await readChanges(join(dir, changesName));
    expect(parsed.files.map((f) => f.name).sort()).toEqual(
      [...files, ...(files.some((f) => f.endsWith(".dsc")) ? ["demo-upload_1.0.tar.xz"] : [])].sort(),
    );
    const buildinfo = files.find((f) => f.endsWith(".buildinfo"))!;
    const info = await readBuildinfo(join(dir, buildinfo));
    expect(info.installedBuildDepends.some((p) => p.name === "dpkg-dev")).toBe(true);
    await verifyUploadFiles(join(dir, buildinfo));
    const dsc = files.find((f) => f.endsWith(".dsc"));
    if (dsc) expect((await verifyDscFiles(join(dir, dsc))).source).toBe("demo-upload");
  });
});

describe("parseChangelogEntry against dpkg-parsechangelog", () => {
  it("agrees on the first entry of the changelogs installed on this host", async () => {
    const limit = String(Number(process.env.CHANGELOG_SAMPLE ?? 80));
    const found = await run("sh", ["-c", `ls /usr/share/doc/*/changelog.Debian.gz | head -n "$1"`, "sh", limit]);
    const paths = found.stdout.split("\n").filter((p) => p !== "");
    let compared = 0;
    for (const path of paths) {
      const text = gunzipSync(readFileSync(path)).toString("utf8");
      const plain = join(work, "changelog");
      writeFileSync(plain, text);
      let expected: ReturnType<typeof parseDeb822Single>;
      try {
        expected = parseDeb822Single((await run("dpkg-parsechangelog", ["-l", plain, "--count", "1"], { env })).stdout);
      } catch {
        continue; // dpkg cannot read it either
      }
      const entry = parseChangelogEntry(text, path);
      const ours = {
        source: entry.source,
        version: entry.version,
        distribution: entry.distribution,
        urgency: entry.urgency,
        maintainer: entry.maintainer,
        date: entry.date,
        timestamp: String(entry.timestamp),
        closes: entry.closes.join(" "),
        changes: entry.changes,
      };
      const theirs = {
        source: expected.get("Source"),
        version: expected.get("Version"),
        distribution: expected.get("Distribution"),
        urgency: expected.get("Urgency"),
        maintainer: expected.get("Maintainer"),
        date: expected.get("Date"),
        timestamp: expected.get("Timestamp"),
        closes: expected.get("Closes") ?? "",
        changes: expected.get("Changes")!.replace(/^\n/, ""),
      };
      expect(ours, path).toEqual(theirs);
      compared++;
    }
    expect(compared).toBeGreaterThan(20);
  });
});
