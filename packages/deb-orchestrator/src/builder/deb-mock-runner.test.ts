import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { extraRepoLines } from "./deb-mock-runner.js";

const KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n";

describe("extraRepoLines", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("verifies the hub's repository with the hub's key (signed-by a file), never trusted=yes", async () => {
    dir = await mkdtemp(join(tmpdir(), "runner-keys-"));
    const lines = await extraRepoLines(
      [
        { url: "http://127.0.0.1:8080/repos/trixie-build/", suite: "trixie-build", components: ["main"], key: KEY },
        { url: "http://127.0.0.1:8080/repos/other/", suite: "other", components: ["main", "contrib"] },
      ],
      dir,
    );
    const keyFile = join(dir, "repo-1.asc");
    expect(lines).toEqual([
      `deb [signed-by=${keyFile}] http://127.0.0.1:8080/repos/trixie-build/ trixie-build main`,
      "deb http://127.0.0.1:8080/repos/other/ other main contrib",
    ]);
    expect(await readFile(keyFile, "utf8")).toBe(KEY);
    expect(lines.join("\n")).not.toContain("trusted");
  });

  it("refuses a repository whose fields would change the line's meaning", async () => {
    dir = await mkdtemp(join(tmpdir(), "runner-keys-"));
    await expect(extraRepoLines([{ url: "http://127.0.0.1/ [trusted=yes]", suite: "s", components: ["main"] }], dir)).rejects.toThrow(
      /malformed repository/,
    );
    await expect(extraRepoLines([{ url: "http://127.0.0.1/", suite: "s main [trusted=yes]", components: [] }], dir)).rejects.toThrow(
      /malformed repository/,
    );
  });
});
