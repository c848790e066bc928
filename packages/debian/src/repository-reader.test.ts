import { readFileSync } from "node:fs";
import { cp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../test/temp-dir.js";
import { serveDirectory } from "./__fixtures__/apt-repository/serve-directory.js";
import { readRepository } from "./repository-reader.js";
import { generateOpenPgpKey } from "./signing.js";

// The fixture repository was written by writeAptRepository (see apt-repository.test.ts for the writer's
// own tests) and signed with openpgp.js; repository-key.asc is its public key.
const fixtureDir = new URL("./__fixtures__/apt-repository/", import.meta.url).pathname;
const keyring = readFileSync(join(fixtureDir, "repository-key.asc"), "utf8");
const FIXTURE_FINGERPRINT_PATTERN = /^[0-9A-F]{40}$/;

describe("readRepository on the fixture repository", () => {
  const scratch = useTempDir("repo-reader-", "all");

  /** A private copy of the fixture repository to break. */
  async function copy(name: string): Promise<string> {
    const dir = join(scratch(), name);
    await cp(join(fixtureDir, "repository"), dir, { recursive: true });
    return dir;
  }

  it("verifies InRelease, parses the Release and reads the indexes (file://)", async () => {
    const repo = await readRepository(pathToFileURL(join(fixtureDir, "repository")).href, { suite: "fixture", keyring });
    expect(repo.signedWith).toBe("InRelease");
    expect(repo.signers).toHaveLength(1);
    expect(repo.signers[0]).toMatch(FIXTURE_FINGERPRINT_PATTERN);
    expect(repo.release.codename).toBe("fixture");
    expect(repo.release.architectures).toEqual(["amd64", "arm64"]);
    const amd64 = await repo.packages("main", "amd64");
    expect(amd64.map((p) => p.get("Package"))).toEqual(["bootc-demo", "bootc-demo-data", "libbootc-demo1"]);
    const arm64 = await repo.packages("main", "arm64");
    expect(arm64.map((p) => p.get("Package"))).toEqual(["bootc-demo", "bootc-demo-data"]); // arch:all in every index
    const [source] = await repo.sources("main");
    expect(source?.get("Directory")).toBe("pool/main/b/bootc-demo");
    const lib = amd64[2]!;
    expect(lib.get("Filename")).toBe("pool/main/libb/libbootc-demo/libbootc-demo1_1.0-1_amd64.deb");
    const deb = await repo.fetchPoolFile(lib.get("Filename")!, { size: Number(lib.get("Size")), sha256: lib.get("SHA256")! });
    expect(deb.subarray(0, 8).toString("latin1")).toBe("!<arch>\n");
    await expect(repo.fetchPoolFile(lib.get("Filename")!, { size: Number(lib.get("Size")), sha256: "0".repeat(64) })).rejects.toMatchObject(
      {
        code: "CHECKSUM_MISMATCH",
      },
    );
  });

  it("reads the same repository over HTTP, fetching indexes by hash", async () => {
    const server = await serveDirectory(join(fixtureDir, "repository"));
    try {
      const repo = await readRepository(`${server.url}/`, { suite: "fixture", keyring });
      expect((await repo.packages("main", "amd64")).length).toBe(3);
      const xz = repo.release.files.get("main/binary-amd64/Packages.xz")!;
      expect(server.requests).toContain(`/dists/fixture/main/binary-amd64/by-hash/SHA256/${xz.sha256}`);
      expect(server.requests).not.toContain("/dists/fixture/main/binary-amd64/Packages.xz");
    } finally {
      await server.close();
    }
  });

  it("falls back to Release + Release.gpg when there is no InRelease", async () => {
    const dir = await copy("no-inrelease");
    await rm(join(dir, "dists/fixture/InRelease"));
    const repo = await readRepository(pathToFileURL(dir).href, { suite: "fixture", keyring });
    expect(repo.signedWith).toBe("Release.gpg");
    expect(repo.signers).toHaveLength(1);
  });

  it("rejects a tampered InRelease, a tampered Release and a foreign key", async () => {
    const dir = await copy("tampered");
    const url = pathToFileURL(dir).href;
    const inRelease = readFileSync(join(dir, "dists/fixture/InRelease"), "utf8");
    await writeFile(join(dir, "dists/fixture/InRelease"), inRelease.replace("Label: Bootc Fixture", "Label: Bootc Evil"));
    await expect(readRepository(url, { suite: "fixture", keyring })).rejects.toMatchObject({ code: "REPO_SIGNATURE_INVALID" });
    await rm(join(dir, "dists/fixture/InRelease"));
    const release = readFileSync(join(dir, "dists/fixture/Release"), "utf8");
    await writeFile(join(dir, "dists/fixture/Release"), release.replace("Label: Bootc Fixture", "Label: Bootc Evil"));
    await expect(readRepository(url, { suite: "fixture", keyring })).rejects.toMatchObject({ code: "REPO_SIGNATURE_INVALID" });
    const other = await generateOpenPgpKey({ name: "Other", email: "other@example.org" });
    await expect(
      readRepository(pathToFileURL(join(fixtureDir, "repository")).href, { suite: "fixture", keyring: other.publicKey }),
    ).rejects.toThrow(/no good signature/);
  });

  it("rejects an index whose content differs from the Release", async () => {
    const dir = await copy("bad-index");
    const repo = await readRepository(pathToFileURL(dir).href, { suite: "fixture", keyring });
    const entry = repo.release.files.get("main/binary-amd64/Packages.xz")!;
    const garbage = Buffer.alloc(entry.size, 0x41);
    await writeFile(join(dir, "dists/fixture/main/binary-amd64/Packages.xz"), garbage);
    await writeFile(join(dir, `dists/fixture/main/binary-amd64/by-hash/SHA256/${entry.sha256}`), garbage);
    await expect(repo.packages("main", "amd64")).rejects.toMatchObject({ code: "CHECKSUM_MISMATCH" });
    await expect(repo.fetchListed("main/binary-amd64/Nonexistent")).rejects.toMatchObject({ code: "REPO_INVALID" });
  });

  it("checks Suite/Codename and Valid-Until", async () => {
    const dir = await copy("renamed");
    await cp(join(dir, "dists/fixture"), join(dir, "dists/other"), { recursive: true });
    await expect(readRepository(pathToFileURL(dir).href, { suite: "other", keyring })).rejects.toThrow(/is for suite fixture/);
    await expect(
      readRepository(pathToFileURL(dir).href, { suite: "fixture", keyring, now: new Date("2200-01-01T00:00:00Z") }),
    ).rejects.toThrow(/expired/);
  });

  it("needs a keyring unless told to read unsigned", async () => {
    const url = pathToFileURL(join(fixtureDir, "repository")).href;
    await expect(readRepository(url, { suite: "fixture" })).rejects.toMatchObject({ code: "REPO_SIGNATURE_INVALID" });
    const repo = await readRepository(url, { suite: "fixture", allowUnsigned: true });
    expect(repo.signedWith).toBe("unsigned");
    expect(repo.release.suite).toBe("fixture");
  });

  it("reports a missing suite and a bad scheme", async () => {
    const url = pathToFileURL(join(fixtureDir, "repository")).href;
    await expect(readRepository(url, { suite: "nonexistent", keyring })).rejects.toMatchObject({ code: "REPO_FETCH_FAILED" });
    await expect(readRepository("ftp://example.org/debian", { suite: "fixture", keyring })).rejects.toThrow(/unsupported URL scheme/);
  });
});
