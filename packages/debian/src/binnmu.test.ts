import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isCodedError, run } from "@debian-bootc/core";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../test/temp-dir.js";
import { addBinNmuEntry, binNmuVersion } from "./binnmu.js";
import { parseChangelogEntry } from "./changelog.js";

const changelog =
  "hello (2.10-5) trixie; urgency=medium\n\n  * New upstream.\n\n -- Santiago Vila <sanvila@debian.org>  Sat, 01 Mar 2025 12:00:00 +0100\n";

describe("binNMU changelog entries", () => {
  const dir = useTempDir("binnmu-");

  it("adds sbuild's entry on top, which dpkg-parsechangelog reads as a binary-only upload", async () => {
    const date = new Date(Date.UTC(2026, 11, 3, 12, 0, 0));
    const text = addBinNmuEntry(changelog, { number: 2, reason: "Rebuild against libfoo 1.2.", date }, "amd64");
    expect(text.endsWith(changelog)).toBe(true);
    const top = parseChangelogEntry(text);
    expect(top).toMatchObject({
      source: "hello",
      version: "2.10-5+b2",
      distribution: "trixie",
      maintainer: "Santiago Vila <sanvila@debian.org>",
    });
    expect(top.metadata["binary-only"]).toBe("yes");
    expect(top.timestamp).toBe(date.getTime() / 1000);
    const path = join(dir(), "changelog");
    await writeFile(path, text);
    const { stdout } = await run("dpkg-parsechangelog", ["-l", path], { debianPackage: "dpkg-dev" });
    expect(stdout).toContain("Version: 2.10-5+b2\n");
    expect(stdout).toContain("Binary-Only: yes\n");
    expect(stdout).toContain(`Timestamp: ${date.getTime() / 1000}\n`);
    expect(stdout).toContain(" * Binary-only non-maintainer upload for amd64; no source changes.\n");
    expect(await readFile(path, "utf8")).toContain("  * Rebuild against libfoo 1.2.\n");
    expect(binNmuVersion("1:1.0-1", 3)).toBe("1:1.0-1+b3");
  });

  it("refuses a reason that would forge changelog structure, a bad number or maintainer", () => {
    const bad = [
      { number: 1, reason: "ok\n\n -- Mallory <m@evil>  Thu, 01 Jan 2026 00:00:00 +0000" },
      { number: 0, reason: "rebuild" },
      { number: 1.5, reason: "rebuild" },
      { number: 1, reason: "" },
      { number: 1, reason: "rebuild", maintainer: "no email" },
    ];
    for (const b of bad) {
      let error: unknown;
      try {
        addBinNmuEntry(changelog, b, "amd64");
      } catch (e) {
        error = e;
      }
      expect(isCodedError(error, "BINNMU_INVALID")).toBe(true);
    }
  });
});
