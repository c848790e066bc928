import { access, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError, run } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveDirectory } from "./__fixtures__/apt-repository/serve-directory.js";
import { writeAptRepository } from "./apt-repository.js";
import { defaultMirror } from "./apt-sources.js";
import { parseDeb822 } from "./deb822.js";
import { createGpgSigner, generateGpgKey } from "./gpg-signing.js";
import { parseRelease } from "./release-file.js";
import { readRepository } from "./repository-reader.js";
import { createOpenPgpSigner, generateOpenPgpKey, type Signer } from "./signing.js";

/**
 * The proof that repositories written here are real APT repositories: apt-get update (signature checking
 * on, signed-by= the public key) and apt-get install into a throwaway root, over file:// and over HTTP;
 * tampering and wrong keys make apt fail; and the Packages/Sources stanzas equal apt-ftparchive's.
 * Needs: apt, apt-utils (apt-ftparchive), gpg, gpg-agent, gpgv, xz-utils, dpkg, and the Debian mirror of
 * the host's APT sources (three small trixie packages are downloaded from it through readRepository).
 */

const fixtureDir = new URL("./__fixtures__/apt-repository/", import.meta.url).pathname;
const FIXTURE_DEBS = ["bootc-demo_1.0-1_all.deb", "bootc-demo-data_1.0_all.deb", "libbootc-demo1_1.0-1_amd64.deb"].map((n) =>
  join(fixtureDir, "debs", n),
);
const FIXTURE_DSC = join(fixtureDir, "source/bootc-demo_1.0.dsc");
const REAL_PACKAGES = ["hello", "sensible-utils", "libsemanage-common"];
const ARCHIVE_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

let scratch: string;
let realDebs: string[] = [];

/** A throwaway apt/dpkg root: its own apt configuration, lists, cache and dpkg database. */
async function makeAptRoot(
  dir: string,
  sourcesLine: string,
): Promise<{ aptGet: (...args: string[]) => Promise<{ code: number; output: string }> }> {
  for (const d of [
    "etc/apt/apt.conf.d",
    "etc/apt/preferences.d",
    "etc/apt/sources.list.d",
    "etc/apt/trusted.gpg.d",
    "var/lib/apt/lists/partial",
    "var/cache/apt/archives/partial",
    "var/lib/dpkg/info",
    "var/lib/dpkg/updates",
    "var/lib/dpkg/triggers",
    "var/log/apt",
  ]) {
    await mkdir(join(dir, d), { recursive: true });
  }
  await writeFile(join(dir, "var/lib/dpkg/status"), "");
  await writeFile(join(dir, "etc/apt/sources.list"), `${sourcesLine}\n`);
  const conf = [
    `Dir "${dir}/";`,
    `Dir::State::status "${dir}/var/lib/dpkg/status";`,
    'APT::Architecture "amd64";',
    'APT::Architectures { "amd64"; };',
    'Acquire::Languages "none";',
    'Acquire::Retries "0";',
    // the download methods run as root: mkdtemp directories are not readable by _apt
    'APT::Sandbox::User "root";',
    'Dpkg::Use-Pty "false";',
    `DPkg::Options { "--root=${dir}"; "--admindir=${dir}/var/lib/dpkg"; "--force-script-chrootless"; "--force-not-root"; };`,
    "",
  ].join("\n");
  await writeFile(join(dir, "etc/apt/apt.conf"), conf);
  return {
    aptGet: async (...args: string[]) => {
      // APT_CONFIG is read before the configuration parts, so the host's /etc/apt is not used at all
      const result = await run("apt-get", ["-q", "-y", ...args], {
        env: { ...process.env, APT_CONFIG: join(dir, "etc/apt/apt.conf"), DEBIAN_FRONTEND: "noninteractive" },
        cwd: dir, // where apt-get source downloads to
        okCodes: [100],
        timeoutMs: 10 * 60_000,
        debianPackage: "apt",
      });
      return { code: result.code, output: result.stdout + result.stderr };
    },
  };
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "apt-repo-system-"));
  // three small real packages from trixie, found and checked through our own reader against Debian's keys
  const mirror = await defaultMirror();
  const archive = await readRepository(mirror, { suite: "trixie", keyring: { path: ARCHIVE_KEYRING } });
  const wanted = new Map<string, { filename: string; size: number; sha256: string }>();
  for await (const stanza of archive.iterateIndex("main/binary-amd64/Packages")) {
    const name = stanza.get("Package")!;
    if (REAL_PACKAGES.includes(name)) {
      wanted.set(name, { filename: stanza.get("Filename")!, size: Number(stanza.get("Size")), sha256: stanza.get("SHA256")! });
    }
  }
  expect([...wanted.keys()].sort()).toEqual([...REAL_PACKAGES].sort());
  await mkdir(join(scratch, "downloads"));
  realDebs = [];
  for (const [, entry] of wanted) {
    const path = join(scratch, "downloads", entry.filename.split("/").pop()!);
    await writeFile(path, await archive.fetchPoolFile(entry.filename, entry));
    realDebs.push(path);
  }
});

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function publish(root: string, signer: Signer): Promise<void> {
  await writeAptRepository({
    root,
    suite: "bootc-test",
    codename: "bootc-test",
    origin: "Bootc",
    label: "Bootc test",
    architectures: ["amd64"],
    debs: [...FIXTURE_DEBS, ...realDebs],
    sources: [FIXTURE_DSC],
    signer,
    validForSeconds: 86400,
  });
  await writeFile(join(root, "key.asc"), signer.publicKey());
}

async function expectInstalled(root: string, packages: string[]): Promise<void> {
  const status = parseDeb822(await readFile(join(root, "var/lib/dpkg/status"), "utf8"));
  for (const name of packages) {
    expect(status.find((p) => p.get("Package") === name)?.get("Status"), name).toBe("install ok installed");
  }
}

describe("apt accepts the repositories we write", () => {
  it("over file://, signed with gpg: update with signature checking, install with dependencies", async () => {
    const repo = join(scratch, "repo-file");
    const home = join(scratch, "gnupg");
    await generateGpgKey({ home, name: "Bootc Test Repository", email: "repo@example.org" });
    const signer = await createGpgSigner({ home });
    try {
      await publish(repo, signer);
    } finally {
      await signer.close?.();
    }
    const root = join(scratch, "root-file");
    const apt = await makeAptRoot(
      root,
      [
        `deb [signed-by=${repo}/key.asc] file://${repo} bootc-test main`,
        `deb-src [signed-by=${repo}/key.asc] file://${repo} bootc-test main`,
      ].join("\n"),
    );
    const update = await apt.aptGet("update");
    expect(update.code, update.output).toBe(0);
    expect(update.output).not.toMatch(/^(W|E):/m);
    expect(update.output).toMatch(/bootc-test\/main Sources/);
    // the Sources index is good enough for apt-get source: it finds and verifies the .dsc and its files
    const source = await apt.aptGet("source", "--download-only", "bootc-demo");
    expect(source.code, source.output).toBe(0);
    expect((await readFile(join(root, "bootc-demo_1.0.dsc"))).equals(await readFile(FIXTURE_DSC))).toBe(true);
    await access(join(root, "bootc-demo_1.0.tar.xz"));
    const install = await apt.aptGet("install", "bootc-demo", "sensible-utils");
    expect(install.code, install.output).toBe(0);
    await expectInstalled(root, ["bootc-demo", "bootc-demo-data", "sensible-utils"]);
    await access(join(root, "usr/share/doc/bootc-demo-data/README"));
    await access(join(root, "usr/bin/sensible-editor"));
  });

  it("over HTTP on loopback, signed with openpgp.js; by-hash indexes; tampering and a wrong key fail", async () => {
    const repo = join(scratch, "repo-http");
    const key = await generateOpenPgpKey({ name: "Bootc HTTP Repository", email: "http@example.org" });
    await publish(repo, await createOpenPgpSigner({ privateKey: key.privateKey }));
    const server = await serveDirectory(repo);
    try {
      const root = join(scratch, "root-http");
      const apt = await makeAptRoot(root, `deb [signed-by=${repo}/key.asc] ${server.url} bootc-test main`);
      const update = await apt.aptGet("update");
      expect(update.code, update.output).toBe(0);
      expect(update.output).not.toMatch(/^(W|E):/m);
      const release = parseRelease(await readFile(join(repo, "dists/bootc-test/Release"), "utf8"));
      const xz = release.files.get("main/binary-amd64/Packages.xz")!;
      expect(server.requests).toContain(`/dists/bootc-test/main/binary-amd64/by-hash/SHA256/${xz.sha256}`);
      const install = await apt.aptGet("install", "bootc-demo");
      expect(install.code, install.output).toBe(0);
      await expectInstalled(root, ["bootc-demo", "bootc-demo-data"]);

      // a key that did not sign the repository
      const other = await generateOpenPgpKey({ name: "Other", email: "other@example.org" });
      await writeFile(join(scratch, "other.asc"), other.publicKey);
      const wrongKey = await makeAptRoot(
        join(scratch, "root-wrong-key"),
        `deb [signed-by=${scratch}/other.asc] ${server.url} bootc-test main`,
      );
      const refused = await wrongKey.aptGet("update");
      expect(refused.code, refused.output).toBe(100);
      expect(refused.output).toMatch(/NO_PUBKEY/);

      // a tampered InRelease (and Release, which apt would otherwise fall back to)
      const dist = join(repo, "dists/bootc-test");
      for (const name of ["InRelease", "Release"]) {
        const text = await readFile(join(dist, name), "utf8");
        await writeFile(join(dist, name), text.replace("Label: Bootc test", "Label: Bootc evil"));
      }
      const tamperedRoot = await makeAptRoot(
        join(scratch, "root-tampered"),
        `deb [signed-by=${repo}/key.asc] ${server.url} bootc-test main`,
      );
      const tampered = await tamperedRoot.aptGet("update");
      expect(tampered.code, tampered.output).toBe(100);
      expect(tampered.output).toMatch(/BADSIG/);
    } finally {
      await server.close();
    }
  });

  it("rejects a Packages index that differs from the signed Release (hash sum mismatch)", async () => {
    const repo = join(scratch, "repo-bad-index");
    const key = await generateOpenPgpKey({ name: "Bootc Index Repository", email: "index@example.org" });
    await publish(repo, await createOpenPgpSigner({ privateKey: key.privateKey }));
    const release = parseRelease(await readFile(join(repo, "dists/bootc-test/Release"), "utf8"));
    const dir = join(repo, "dists/bootc-test/main/binary-amd64");
    // replace every variant (and its by-hash copy) with a same-size, different index
    for (const name of ["Packages", "Packages.gz", "Packages.xz"]) {
      const entry = release.files.get(`main/binary-amd64/${name}`)!;
      const evil = Buffer.alloc(entry.size, 0x20);
      await writeFile(join(dir, name), evil);
      await writeFile(join(dir, "by-hash/SHA256", entry.sha256!), evil);
    }
    const apt = await makeAptRoot(join(scratch, "root-bad-index"), `deb [signed-by=${repo}/key.asc] file://${repo} bootc-test main`);
    const update = await apt.aptGet("update");
    expect(update.code, update.output).toBe(100);
    expect(update.output).toMatch(/Hash Sum mismatch|File has unexpected size/);
    // our reader refuses it too
    await expect(
      (await readRepository(`file://${repo}`, { suite: "bootc-test", keyring: key.publicKey, verifier: "gpgv" })).packages("main", "amd64"),
    ).rejects.toSatisfy((error: unknown) => isCodedError(error, "CHECKSUM_MISMATCH") || isCodedError(error, "REPO_INVALID"));
  });
});

describe("Packages and Sources match apt-ftparchive", () => {
  it("field by field for real trixie .debs, the fixture .debs and a .dsc", async () => {
    const repo = join(scratch, "repo-ftparchive");
    await writeAptRepository({
      root: repo,
      suite: "cmp",
      architectures: ["amd64"],
      debs: [...FIXTURE_DEBS, ...realDebs, join(fixtureDir, "field-order.deb")],
      sources: [FIXTURE_DSC],
      sha1: true,
      sha512: true, // apt-ftparchive writes SHA1 and SHA512 by default
      acquireByHash: false,
      compressions: ["gzip"],
    });
    // run in the repository root so that apt-ftparchive's Filename/Directory are the pool paths we wrote
    const reference = await run("apt-ftparchive", ["packages", "pool"], { cwd: repo, debianPackage: "apt-utils" });
    const theirs = parseDeb822(reference.stdout);
    const ours = parseDeb822(await readFile(join(repo, "dists/cmp/main/binary-amd64/Packages"), "utf8"));
    expect(ours.length).toBe(FIXTURE_DEBS.length + REAL_PACKAGES.length + 1);
    expect(theirs.length).toBe(ours.length);
    for (const stanza of ours) {
      const match = theirs.find((t) => t.get("Filename") === stanza.get("Filename"));
      expect(match, stanza.get("Filename")).toBeDefined();
      expect(stanza.entries(), stanza.get("Package")).toEqual(match!.entries());
      expect(stanza.toString()).toBe(match!.toString());
    }

    const referenceSources = await run("apt-ftparchive", ["sources", "pool"], { cwd: repo, debianPackage: "apt-utils" });
    const [theirSource] = parseDeb822(referenceSources.stdout);
    const [ourSource] = parseDeb822(await readFile(join(repo, "dists/cmp/main/source/Sources"), "utf8"));
    expect(ourSource!.entries()).toEqual(theirSource!.entries());
  });
});
