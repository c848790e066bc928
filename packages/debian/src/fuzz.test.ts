import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { afterAll, describe, expect, it } from "vitest";
import { makeDeb } from "./__fixtures__/deb-builder.js";
import { parseChangelogEntry } from "./changelog.js";
import { readDeb } from "./deb-file.js";
import { parseDeb822 } from "./deb822.js";
import { parseRelations } from "./relation.js";
import { parseSignedMessage, stripSignature } from "./signed-message.js";
import { parseDsc, verifyDscFiles } from "./source-package.js";
import { parseBuildinfo, parseChanges } from "./upload-files.js";
import { parseVersion } from "./version.js";

/**
 * Fuzz-style robustness: random mutations of real fixtures (byte flips, truncation, duplicated and
 * deleted slices, inserted separators, huge lines) go to every parser. Each call must either succeed or
 * throw a CodedError: never another exception type, never a hang. The seed is fixed so CI is
 * reproducible; FUZZ_SEED=n (and FUZZ_ROUNDS=n) explore further.
 */
const seed = Number(process.env.FUZZ_SEED ?? 20240601);
const rounds = Number(process.env.FUZZ_ROUNDS ?? 1);
const fixtures = new URL("./__fixtures__/", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "fuzz-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function rng(s: number): () => number {
  let state = s >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}
const random = rng(seed);
const int = (n: number) => Math.floor(random() * n);

const SPECIAL = [
  "\n",
  "\n\n",
  " ",
  "\t",
  ":",
  "-",
  ".",
  "\0",
  "\r",
  "#",
  "(",
  ")",
  "|",
  "<",
  ">",
  "[",
  "]",
  ",",
  "~",
  "-----BEGIN PGP SIGNATURE-----\n",
  " -- ",
];

/** One random mutation of the input; returns the result and what was done (for the failure message). */
function mutate(input: Buffer): [Buffer, string] {
  const at = int(input.length + 1);
  switch (int(7)) {
    case 0: {
      const out = Buffer.from(input);
      const flips = 1 + int(8);
      for (let k = 0; k < flips && out.length > 0; k++) out[int(out.length)] = int(256);
      return [out, `${flips} byte flips`];
    }
    case 1:
      return [input.subarray(0, at), `truncated at ${at}`];
    case 2: {
      const len = int(Math.min(4096, input.length - at + 1));
      return [Buffer.concat([input.subarray(0, at + len), input.subarray(at)]), `duplicated ${len} bytes at ${at}`];
    }
    case 3: {
      const len = int(Math.min(4096, input.length - at + 1));
      return [Buffer.concat([input.subarray(0, at), input.subarray(at + len)]), `deleted ${len} bytes at ${at}`];
    }
    case 4: {
      const s = SPECIAL[int(SPECIAL.length)]!;
      return [Buffer.concat([input.subarray(0, at), Buffer.from(s), input.subarray(at)]), `inserted ${JSON.stringify(s)} at ${at}`];
    }
    case 5: {
      const len = 100_000 + int(400_000);
      return [Buffer.concat([input.subarray(0, at), Buffer.alloc(len, "x"), input.subarray(at)]), `inserted a ${len}-byte line at ${at}`];
    }
    default: {
      const [a, what] = mutate(input);
      const [b, what2] = mutate(a);
      return [b, `${what}, then ${what2}`];
    }
  }
}

/** Run fn on many mutations of input; any non-coded exception fails with a replayable description. */
function fuzzSync(name: string, input: Buffer, count: number, fn: (text: string) => unknown): number {
  let coded = 0;
  for (let i = 0; i < count; i++) {
    const [mutated, what] = mutate(input);
    try {
      fn(mutated.toString("utf8"));
    } catch (error) {
      if (!isCodedError(error)) throw new Error(`${name} (seed ${seed}, case ${i}: ${what}) threw ${String(error)}`, { cause: error });
      coded++;
    }
  }
  return coded;
}

const text = (name: string) => readFileSync(join(fixtures, name));

describe(`parsers on mutated fixtures (seed ${seed})`, () => {
  it("deb822 indexes and control files", { timeout: 60_000 * rounds }, () => {
    let errors = 0;
    for (let r = 0; r < rounds; r++) {
      for (const name of ["Packages.excerpt", "Sources.excerpt", "bookworm-updates.InRelease"]) {
        errors += fuzzSync(name, text(name), 150, (t) => parseDeb822(stripSignature(t, name), { source: name, maxLineLength: 1 << 20 }));
      }
      errors += fuzzSync("control-with-comments", text("control-with-comments"), 150, (t) => parseDeb822(t, { comments: true }));
    }
    expect(errors).toBeGreaterThan(0); // the mutations do reach the error paths
  });

  it("the OpenPGP cleartext wrapper", { timeout: 60_000 * rounds }, () => {
    let errors = 0;
    for (let r = 0; r < rounds; r++) {
      for (const name of ["hello_2.10-5.dsc", "bookworm-updates.InRelease"])
        errors += fuzzSync(name, text(name), 200, (t) => parseSignedMessage(t, name));
    }
    expect(errors).toBeGreaterThan(0);
  });

  it(".dsc, .changes, .buildinfo and debian/changelog", { timeout: 60_000 * rounds }, () => {
    let errors = 0;
    for (let r = 0; r < rounds; r++) {
      errors += fuzzSync("hello .dsc", text("hello_2.10-5.dsc"), 200, (t) => parseDsc(t));
      errors += fuzzSync("demo .dsc", text("upload/demo-upload_1.0.dsc"), 200, (t) => parseDsc(t));
      errors += fuzzSync(".changes", text("upload/demo-upload_1.0_amd64.changes"), 200, (t) => parseChanges(t));
      errors += fuzzSync(".buildinfo", text("upload/demo-upload_1.0_amd64.buildinfo"), 200, (t) => parseBuildinfo(t));
      errors += fuzzSync("changelog", text("apt.changelog"), 200, (t) => parseChangelogEntry(t));
    }
    expect(errors).toBeGreaterThan(0);
  });

  it("relations and versions", { timeout: 60_000 * rounds }, () => {
    const lines = readFileSync(join(fixtures, "relations-trixie.txt"), "utf8")
      .split("\n")
      .filter((l) => l.includes(": "));
    const versions = ["1:2.30-1+deb12u1", "2.10-5", "1.0~rc1", "0.0.25", "10.46-1~deb13u3", "1:1.3.dfsg+really1.3.1-1+deb13u1"];
    let errors = 0;
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < 300; i++) {
        const line = lines[int(lines.length)]!;
        errors += fuzzSync("relation", Buffer.from(line.slice(line.indexOf(": ") + 2)), 1, (t) => parseRelations(t, { field: "Depends" }));
      }
      for (const v of versions) errors += fuzzSync("version", Buffer.from(v), 100, (t) => parseVersion(t));
    }
    expect(errors).toBeGreaterThan(0);
  });

  it("readDeb on mutated packages", { timeout: 120_000 * rounds }, async () => {
    const debs = [
      "debs/hello_2.10-5_amd64.deb",
      "debs/netbase_6.5_all.deb",
      "debs/demo-files_zstd.deb",
      "debs/demo-files_gzip.deb",
      "debs/demo-files_none.deb",
      "debs/demo-files_pax.deb",
    ];
    let errors = 0;
    let ok = 0;
    for (let i = 0; i < 120 * rounds; i++) {
      const name = debs[i % debs.length]!;
      const [mutated, what] = mutate(text(name));
      const path = join(tmp, `m${i}.deb`);
      writeFileSync(path, mutated);
      try {
        await readDeb(path, { listFiles: true });
        ok++;
      } catch (error) {
        if (!isCodedError(error))
          throw new Error(`readDeb ${name} (seed ${seed}, case ${i}: ${what}) threw ${String(error)}`, { cause: error });
        errors++;
      }
      rmSync(path);
    }
    expect(errors).toBeGreaterThan(0);
    expect(ok + errors).toBe(120 * rounds);
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
