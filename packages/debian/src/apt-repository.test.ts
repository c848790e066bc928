import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { copyFile, lstat, mkdir, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../test/temp-dir.js";
import { makeDeb } from "./__fixtures__/deb-builder.js";
import { poolPrefix, type WriteRepositoryOptions, writeAptRepository } from "./apt-repository.js";
import { parseRelease } from "./release-file.js";
import { readRepository } from "./repository-reader.js";
import { createOpenPgpSigner, generateOpenPgpKey } from "./signing.js";

const fixtureDir = new URL("./__fixtures__/apt-repository/", import.meta.url).pathname;
const DEBS = ["bootc-demo_1.0-1_all.deb", "bootc-demo-data_1.0_all.deb", "libbootc-demo1_1.0-1_amd64.deb"].map((n) =>
  join(fixtureDir, "debs", n),
);
const DSC = join(fixtureDir, "source/bootc-demo_1.0.dsc");
const DATE = new Date("2025-05-17T08:13:49Z");

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else out.push(relative(dir, path));
    }
  };
  await walk(dir);
  return out.sort();
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

describe("writeAptRepository", () => {
  const scratch = useTempDir("repo-writer-", "all");
  const base = (root: string): WriteRepositoryOptions => ({
    root,
    suite: "stable",
    codename: "trixie",
    origin: "Bootc",
    label: "Bootc",
    architectures: ["amd64", "arm64"],
    debs: DEBS,
    sources: [DSC],
    date: DATE,
  });

  it("lays out the pool and lists every index (compressed and not) in the Release", async () => {
    const root = join(scratch(), "layout");
    const written = await writeAptRepository(base(root));
    expect(written.packages).toBe(3);
    expect(written.sources).toBe(1);
    expect(await listTree(join(root, "pool"))).toEqual([
      "main/b/bootc-demo-data/bootc-demo-data_1.0_all.deb",
      "main/b/bootc-demo/bootc-demo_1.0-1_all.deb",
      "main/b/bootc-demo/bootc-demo_1.0.dsc",
      "main/b/bootc-demo/bootc-demo_1.0.tar.xz",
      "main/libb/libbootc-demo/libbootc-demo1_1.0-1_amd64.deb",
    ]);
    const release = parseRelease(await readFile(join(root, "dists/stable/Release"), "utf8"));
    expect([...release.files.keys()]).toEqual([
      "main/binary-amd64/Packages",
      "main/binary-amd64/Packages.gz",
      "main/binary-amd64/Packages.xz",
      "main/binary-amd64/Release",
      "main/binary-arm64/Packages",
      "main/binary-arm64/Packages.gz",
      "main/binary-arm64/Packages.xz",
      "main/binary-arm64/Release",
      "main/source/Release",
      "main/source/Sources",
      "main/source/Sources.gz",
      "main/source/Sources.xz",
    ]);
    for (const entry of release.files.values()) {
      const data = await readFile(join(root, "dists/stable", entry.path));
      expect(data.length).toBe(entry.size);
      expect(sha256(data)).toBe(entry.sha256);
      expect(createHash("md5").update(data).digest("hex")).toBe(entry.md5);
    }
    expect(release.fields.get("Date")).toBe("Sat, 17 May 2025 08:13:49 UTC");
    expect(release.fields.get("Valid-Until")).toBeUndefined();
    const packages = await readFile(join(root, "dists/stable/main/binary-arm64/Packages"), "utf8");
    expect(packages.match(/^Package: .*$/gm)).toEqual(["Package: bootc-demo", "Package: bootc-demo-data"]);
    expect(packages.endsWith("\n\n")).toBe(true); // every stanza ends with a blank line, as apt-ftparchive writes
    expect(await readFile(join(root, "dists/stable/main/binary-amd64/Release"), "utf8")).toBe(
      "Archive: stable\nOrigin: Bootc\nLabel: Bootc\nAcquire-By-Hash: yes\nComponent: main\nArchitecture: amd64\n",
    );
  });

  it("writes by-hash copies of every index under its SHA256", async () => {
    const root = join(scratch(), "by-hash");
    await writeAptRepository({ ...base(root), validForSeconds: 7 * 86400 });
    const release = parseRelease(await readFile(join(root, "dists/stable/Release"), "utf8"));
    expect(release.acquireByHash).toBe(true);
    expect(release.validUntil?.toISOString()).toBe("2025-05-24T08:13:49.000Z");
    for (const entry of release.files.values()) {
      const dir = entry.path.slice(0, entry.path.lastIndexOf("/"));
      const copy = await readFile(join(root, "dists/stable", dir, "by-hash/SHA256", entry.sha256!));
      expect(sha256(copy)).toBe(entry.sha256);
    }
    const noHash = join(scratch(), "no-by-hash");
    await writeAptRepository({ ...base(noHash), acquireByHash: false });
    expect(await readFile(join(noHash, "dists/stable/Release"), "utf8")).not.toContain("Acquire-By-Hash");
    expect((await listTree(join(noHash, "dists/stable"))).some((p) => p.includes("by-hash"))).toBe(false);
  });

  it("is deterministic for the same inputs and date", async () => {
    const a = join(scratch(), "det-a");
    const b = join(scratch(), "det-b");
    await writeAptRepository({ ...base(a), sha1: true, sha512: true });
    // inputs in another order give the same repository
    await writeAptRepository({ ...base(b), debs: [...DEBS].reverse(), sha1: true, sha512: true });
    const files = await listTree(join(a, "dists/stable"));
    expect(files).toEqual(await listTree(join(b, "dists/stable")));
    expect(files).toContain(
      "main/binary-amd64/by-hash/SHA512/".concat(
        parseRelease(await readFile(join(a, "dists/stable/Release"), "utf8")).files.get("main/binary-amd64/Packages")!.sha512!,
      ),
    );
    for (const file of files) {
      expect(await readFile(join(b, "dists/stable", file)), file).toEqual(await readFile(join(a, "dists/stable", file)));
    }
    const release = await readFile(join(a, "dists/stable/Release"), "utf8");
    expect(release).toMatch(/^MD5Sum:$/m);
    expect(release).toMatch(/^SHA1:$/m);
    expect(release).toMatch(/^SHA512:$/m);
  });

  it("switches generations atomically and keeps the previous one and its by-hash files", async () => {
    const root = join(scratch(), "generations");
    const first = await writeAptRepository({ ...base(root), debs: DEBS.slice(0, 2) });
    expect((await lstat(join(root, "dists/stable"))).isSymbolicLink()).toBe(true);
    const firstXz = parseRelease(first.release).files.get("main/binary-amd64/Packages.xz")!.sha256!;
    const second = await writeAptRepository({ ...base(root), date: new Date(DATE.getTime() + 60_000) });
    expect(await readlink(join(root, "dists/stable"))).toBe(second.generationDir.split("/").pop());
    // the old index is still there by hash, next to the new one
    const byHash = await readdir(join(root, "dists/stable/main/binary-amd64/by-hash/SHA256"));
    expect(byHash).toContain(firstXz);
    expect(byHash).toContain(parseRelease(second.release).files.get("main/binary-amd64/Packages.xz")!.sha256!);
    // previous generation kept, older ones removed, and so is what a crashed writer left
    await mkdir(join(root, "dists/.stable.tmp-deadbeef/main"), { recursive: true });
    const third = await writeAptRepository({ ...base(root), date: new Date(DATE.getTime() + 120_000) });
    const hidden = (await readdir(join(root, "dists"))).filter((n) => n.startsWith(".stable.")).sort();
    expect(hidden).toEqual([second.generationDir, third.generationDir].map((p) => p.split("/").pop()).sort());
    expect(await readdir(join(root, "dists/stable/main/binary-amd64/by-hash/SHA256"))).not.toContain(firstXz);
    // a pre-existing plain directory is replaced by the link too
    const plain = join(scratch(), "plain-dir");
    await mkdir(join(plain, "dists/stable"), { recursive: true });
    await writeFile(join(plain, "dists/stable/Release"), "Suite: stable\n");
    await writeAptRepository(base(plain));
    expect((await lstat(join(plain, "dists/stable"))).isSymbolicLink()).toBe(true);
    expect(await readFile(join(plain, "dists/stable/Release"), "utf8")).toContain("Codename: trixie");
  });

  it("signs with the given signer so that the reader accepts it", async () => {
    const root = join(scratch(), "signed");
    const key = await generateOpenPgpKey({ name: "Writer Test", email: "writer@example.org" });
    const signer = await createOpenPgpSigner({ privateKey: key.privateKey });
    const written = await writeAptRepository({ ...base(root), signer, signedByField: true });
    expect(written.fingerprint).toBe(key.fingerprint);
    expect(written.release).toContain(`Signed-By: ${key.fingerprint}`);
    const repo = await readRepository(pathToFileURL(root).href, { suite: "stable", keyring: key.publicKey });
    expect(repo.signers).toEqual([key.fingerprint]);
    expect(repo.releaseText).toBe(written.release);
    const [stanza] = await repo.packages("main", "amd64");
    expect(stanza?.get("Filename")).toBe("pool/main/b/bootc-demo/bootc-demo_1.0-1_all.deb");
    expect(await readFile(join(root, "dists/stable/Release.gpg"), "utf8")).toMatch(/^-----BEGIN PGP SIGNATURE-----/);
  });

  it("hard-links the inputs into the pool only when asked (poolLinks), copying otherwise", async () => {
    const inputs = join(scratch(), "link-inputs");
    await mkdir(inputs, { recursive: true });
    const debs = await Promise.all(
      DEBS.map(async (d) => {
        const to = join(inputs, d.split("/").pop()!);
        await copyFile(d, to);
        return to;
      }),
    );
    const inode = async (path: string) => (await lstat(path)).ino;
    const pooled = join("pool/main/b/bootc-demo/bootc-demo_1.0-1_all.deb");
    const linked = join(scratch(), "linked");
    await writeAptRepository({ ...base(linked), debs, poolLinks: true });
    expect(await inode(join(linked, pooled))).toBe(await inode(debs[0]!));
    const copied = join(scratch(), "copied");
    await writeAptRepository({ ...base(copied), debs });
    expect(await inode(join(copied, pooled))).not.toBe(await inode(debs[0]!));
    // the same repository either way
    for (const file of ["dists/stable/Release", "dists/stable/main/binary-amd64/Packages"])
      expect(await readFile(join(linked, file), "utf8")).toBe(await readFile(join(copied, file), "utf8"));
  });

  it("lists the digests a caller gives for a .deb it verified, checking its size, and reads them with SHA1/SHA512", async () => {
    const packages = async (root: string) => readFile(join(root, "dists/stable/main/binary-amd64/Packages"), "utf8");
    const read = join(scratch(), "given-read");
    await writeAptRepository(base(read));
    const deb = readFileSync(DEBS[0]!);
    const real = { size: deb.length, md5: createHash("md5").update(deb).digest("hex"), sha256: sha256(deb) };
    const given = join(scratch(), "given");
    await writeAptRepository({ ...base(given), debs: [{ deb: DEBS[0]!, digests: real }, ...DEBS.slice(1)] });
    expect(await packages(given)).toBe(await packages(read));
    // what the caller gives is what is listed: the file is not read whole again
    const other = { ...real, md5: "0".repeat(32) };
    const trusted = join(scratch(), "given-trusted");
    await writeAptRepository({ ...base(trusted), debs: [{ deb: DEBS[0]!, digests: other }] });
    expect(await packages(trusted)).toContain(`MD5sum: ${"0".repeat(32)}`);
    // a repository with SHA512 reads every file, given digests or not
    const full = join(scratch(), "given-sha512");
    await writeAptRepository({ ...base(full), debs: [{ deb: DEBS[0]!, digests: other }], sha512: true });
    expect(await packages(full)).toContain(`MD5sum: ${real.md5}`);
    // a file of another size than the digests given is refused
    await expect(
      writeAptRepository({ ...base(join(scratch(), "given-size")), debs: [{ deb: DEBS[0]!, digests: { ...real, size: real.size + 1 } }] }),
    ).rejects.toMatchObject({ code: "REPO_INVALID" });
  });

  it("lists SHA1 and SHA512 of each .deb in Packages exactly when asked", async () => {
    const packages = async (root: string) => readFile(join(root, "dists/stable/main/binary-amd64/Packages"), "utf8");
    const plain = join(scratch(), "digests-plain");
    await writeAptRepository(base(plain));
    expect(await packages(plain)).toMatch(/^MD5sum: [0-9a-f]{32}$/m);
    expect(await packages(plain)).toMatch(/^SHA256: [0-9a-f]{64}$/m);
    expect(await packages(plain)).not.toMatch(/^SHA(1|512):/m);
    const all = join(scratch(), "digests-all");
    await writeAptRepository({ ...base(all), sha1: true, sha512: true });
    const deb = readFileSync(DEBS[0]!);
    const stanza = (await packages(all)).split("\n\n").find((p) => p.startsWith("Package: bootc-demo\n"))!;
    expect(stanza).toContain(`SHA1: ${createHash("sha1").update(deb).digest("hex")}`);
    expect(stanza).toContain(`SHA512: ${createHash("sha512").update(deb).digest("hex")}`);
    expect(stanza).toContain(`SHA256: ${sha256(deb)}`);
  });

  it("refuses to replace a pool file with different content", async () => {
    const root = join(scratch(), "conflict");
    await mkdir(join(root, "pool/main/b/bootc-demo-data"), { recursive: true });
    await writeFile(join(root, "pool/main/b/bootc-demo-data/bootc-demo-data_1.0_all.deb"), "not the same deb");
    await expect(writeAptRepository(base(root))).rejects.toMatchObject({ code: "REPO_POOL_CONFLICT" });
    // nothing was published
    await expect(lstat(join(root, "dists/stable"))).rejects.toThrow(/ENOENT/);
  });

  it("refuses packages for other architectures and unknown components", async () => {
    await expect(writeAptRepository({ ...base(join(scratch(), "arch")), architectures: ["arm64"] })).rejects.toThrow(
      /architecture amd64 is not one of/,
    );
    await expect(writeAptRepository({ ...base(join(scratch(), "comp")), debs: [{ deb: DEBS[0]!, component: "contrib" }] })).rejects.toThrow(
      /component contrib is not one of/,
    );
    await expect(writeAptRepository({ ...base(join(scratch(), "all")), architectures: ["all"] })).rejects.toMatchObject({
      code: "REPO_INVALID",
    });
  });

  it("checks the files a .dsc lists", async () => {
    const dir = join(scratch(), "bad-source");
    await mkdir(dir, { recursive: true });
    await copyFile(DSC, join(dir, "bootc-demo_1.0.dsc"));
    await writeFile(join(dir, "bootc-demo_1.0.tar.xz"), "truncated");
    await expect(
      writeAptRepository({ ...base(join(scratch(), "bad-source-repo")), sources: [join(dir, "bootc-demo_1.0.dsc")] }),
    ).rejects.toMatchObject({
      code: "CHECKSUM_MISMATCH",
    });
    await rm(join(dir, "bootc-demo_1.0.tar.xz"));
    await expect(
      writeAptRepository({ ...base(join(scratch(), "bad-source-repo")), sources: [join(dir, "bootc-demo_1.0.dsc")] }),
    ).rejects.toMatchObject({
      code: "LISTED_FILE_MISSING",
    });
  });

  it("writes the Sources stanza with Directory and the .dsc's own checksums", async () => {
    const root = join(scratch(), "sources");
    await writeAptRepository(base(root));
    const sources = await readFile(join(root, "dists/stable/main/source/Sources"), "utf8");
    const dsc = readFileSync(DSC);
    expect(sources).toContain("Package: bootc-demo\nFormat: 3.0 (native)\n");
    expect(sources).toContain("Directory: pool/main/b/bootc-demo\n");
    expect(sources).toContain(`\nChecksums-Sha256:\n ${sha256(dsc)} ${dsc.length} bootc-demo_1.0.dsc\n`);
  });

  it("refuses .debs whose control fields would lead a pool path outside the repository", async () => {
    const cases: Array<[string, string]> = [
      ["Package: demo\nVersion: 1/../../../../../../../../../hub-escaped\nArchitecture: amd64\n", "VERSION_INVALID"],
      ["Package: demo\nVersion: 1.0\nArchitecture: ../../../../escaped\n", "ARCHITECTURE_INVALID"],
      ["Package: ../../../../escaped\nVersion: 1.0\nArchitecture: amd64\n", "PACKAGE_NAME_INVALID"],
      ["Package: demo\nSource: ../../../escaped\nVersion: 1.0\nArchitecture: amd64\n", "PACKAGE_NAME_INVALID"],
      ["Package: <script>alert(4)</script>\nVersion: 1.0\nArchitecture: amd64\n", "PACKAGE_NAME_INVALID"],
    ];
    for (const [i, [control, code]] of cases.entries()) {
      const dir = join(scratch(), `hostile-${i}`);
      const root = join(dir, "a", "b", "c", "repo");
      await mkdir(root, { recursive: true });
      const deb = join(dir, "hostile.deb");
      await writeFile(deb, makeDeb([{ name: "./usr/", type: "5" }], `${control}Maintainer: x <x@example.org>\nDescription: x\n`));
      await expect(writeAptRepository({ ...base(root), debs: [deb], sources: [] }), control).rejects.toMatchObject({ code });
      // nothing written anywhere: not inside the repository, not beside or above it
      expect(await listTree(dir)).toEqual(["hostile.deb"]);
    }
  });

  it("uses the archive's pool prefixes", () => {
    expect(poolPrefix("hello")).toBe("h");
    expect(poolPrefix("libsemanage")).toBe("libs");
    expect(poolPrefix("lib")).toBe("l");
  });
});
