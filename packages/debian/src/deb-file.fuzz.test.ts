import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { afterAll, describe, expect, it } from "vitest";
import { fuzzAsync, fuzzSeed, Mutator, refused } from "../../../test/fuzz.js";
import { makeDeb, tar } from "./__fixtures__/deb-builder.js";
import { readDeb } from "./deb-file.js";
import { parseDeb822 } from "./deb822.js";
import { verifyDscFiles } from "./source-package.js";
import { iterateTar } from "./tar-reader.js";

/**
 * Parsers of outside input get a few thousand mutations of real fixtures each (test/fuzz.ts: byte flips,
 * truncation, separators, huge numbers, deep nesting, long lines) and must answer every one with a
 * result or a CodedError. Seeded: FUZZ_SEED=n and FUZZ_ROUNDS=n explore further.
 */
const fixtures = new URL("./__fixtures__/", import.meta.url).pathname;
const bytes = (name: string) => readFileSync(join(fixtures, name));
const mutator = new Mutator(fuzzSeed);
const tmp = mkdtempSync(join(tmpdir(), "fuzz-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe(`.deb reader (ar, tar, compressed members) on mutated fixtures (seed ${fuzzSeed})`, () => {
  it("tar archives (the .deb reader's tar walker)", async () => {
    const archives = [
      tar([
        { name: "./", type: "5", mode: 0o755 },
        { name: "./usr/share/doc/x/copyright", data: "text\n".repeat(50) },
        { name: "./usr/bin/x", type: "2", linkname: "../lib/x" },
        { name: "./usr/bin/y", type: "1", linkname: "./usr/share/doc/x/copyright" },
        { name: "././@LongLink", type: "L", data: `./usr/share/${"long/".repeat(40)}name\0` },
        { name: "./ignored", data: "long\n" },
        { name: "./PaxHeaders/z", type: "x", data: "30 path=./usr/share/pax-name\n" },
        { name: "./z", data: "pax\n" },
      ]),
    ];
    const outcome = await fuzzAsync(mutator, "tar", archives, 2000, async (input) => {
      for await (const _ of iterateTar(
        (async function* () {
          yield input;
        })(),
        { source: "data.tar", keepBody: () => true, maxBodySize: 1 << 20 },
      ));
    });
    expect(refused(outcome)).toBeGreaterThan(0);
    expect(outcome.ok).toBeGreaterThan(0);
  });

  it("readDeb on mutated packages (ar, compressed members, tar, control)", async () => {
    const debs = readdirSync(join(fixtures, "debs"))
      .filter((n) => n.endsWith(".deb"))
      .map((n) => bytes(`debs/${n}`));
    let i = 0;
    const outcome = await fuzzAsync(mutator, "readDeb", debs, 400, async (input) => {
      const path = join(tmp, `m${i++}.deb`);
      writeFileSync(path, input);
      try {
        await readDeb(path, { listFiles: true });
      } finally {
        rmSync(path);
      }
    });
    expect(refused(outcome)).toBeGreaterThan(0);
    expect(outcome.ok).toBeGreaterThan(0);
  });
});

describe("hostile inputs named in the issue", () => {
  it("a Packages file with a 100 MB line gives a coded error", { timeout: 60_000 }, () => {
    const huge = `Package: a\nDescription: ${"x".repeat(100 * 1024 * 1024)}\n`;
    let error: unknown;
    try {
      parseDeb822(huge, { source: "Packages" });
    } catch (e) {
      error = e;
    }
    expect(isCodedError(error) && ["DEB822_SYNTAX", "DEB822_TOO_LARGE"].includes(error.code)).toBe(true);
  });

  it("a .deb whose tar entries point outside with ../ gives DEB_UNSAFE_PATH", async () => {
    const path = join(tmp, "evil.deb");
    writeFileSync(
      path,
      makeDeb([
        { name: "./usr/", type: "5" },
        { name: "./usr/../../../etc/cron.d/evil", data: "* * * * * root sh\n" },
      ]),
    );
    const error = await readDeb(path, { listFiles: true }).catch((e: unknown) => e);
    expect(isCodedError(error, "DEB_UNSAFE_PATH")).toBe(true);
  });

  it("a .dsc listing files with wrong sizes gives CHECKSUM_MISMATCH", async () => {
    const dir = join(tmp, "wrong-size");
    mkdirSync(dir);
    copyFileSync(join(fixtures, "upload/demo-upload_1.0.tar.xz"), join(dir, "demo-upload_1.0.tar.xz"));
    const dsc = readFileSync(join(fixtures, "upload/demo-upload_1.0.dsc"), "utf8").replaceAll(" 968 ", " 96800 ");
    writeFileSync(join(dir, "demo-upload_1.0.dsc"), dsc);
    const error = await verifyDscFiles(join(dir, "demo-upload_1.0.dsc")).catch((e: unknown) => e);
    expect(isCodedError(error, "CHECKSUM_MISMATCH") && error.details).toMatchObject({ file: "demo-upload_1.0.tar.xz", checksum: "size" });
  });
});
