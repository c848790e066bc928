import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "../../../test/fuzz.js";
import { entryToListing, parseListing } from "./__fixtures__/dpkg-listing.js";
import { defaultMirror } from "./apt-sources.js";
import { readDeb } from "./deb-file.js";
import { iterateDeb822, parseDeb822Single } from "./deb822.js";
import { decompress } from "./decompress.js";

/**
 * Differential test against dpkg-deb on real packages of the archive (trixie, amd64): the control file
 * (`dpkg-deb -I x control`, `dpkg-deb -f`) and the file list (`dpkg-deb -c`) must match ours exactly.
 * Packages are downloaded once into a cache under the temp directory. A seeded random sample of the
 * archive joins a fixed list (DEB_SEED=... replays a run, DEB_SAMPLE=n widens it).
 */
const seed = Number(process.env.DEB_SEED ?? Date.now() % 2 ** 31);
const cache = join(tmpdir(), "debian-bootc-deb-cache");
const work = mkdtempSync(join(tmpdir(), "deb-file-system-"));
const env = { ...process.env, TZ: "UTC", LC_ALL: "C.UTF-8" };
afterAll(() => rmSync(work, { recursive: true, force: true }));

const FIXED = ["hello", "dash", "bash", "tzdata", "python3-six", "base-files", "ca-certificates", "fonts-dejavu-core", "busybox", "libc6"];

async function download(url: string, path: string): Promise<string> {
  try {
    if (statSync(path).size > 0) return path;
  } catch {
    // not cached yet
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  writeFileSync(`${path}.part`, Buffer.from(await response.arrayBuffer()));
  await run("mv", [`${path}.part`, path]);
  return path;
}

interface Candidate {
  name: string;
  filename: string;
  size: number;
}

let mirror = "";
const picked: Candidate[] = [];

beforeAll(async () => {
  mkdirSync(cache, { recursive: true });
  mirror = (await defaultMirror()).replace(/\/+$/, "");
  const response = await fetch(`${mirror}/dists/trixie/main/binary-amd64/Packages.xz`);
  if (!response.ok || response.body === null) throw new Error(`Packages.xz: HTTP ${response.status}`);
  const chunks: Buffer[] = [];
  for await (const chunk of decompress(response.body as AsyncIterable<Uint8Array>, "xz", { source: "Packages.xz" }))
    chunks.push(Buffer.from(chunk));
  const all: Candidate[] = [];
  for (const p of iterateDeb822(Buffer.concat(chunks).toString("utf8"), { source: "Packages" })) {
    all.push({ name: p.require("Package"), filename: p.require("Filename"), size: Number(p.require("Size")) });
  }
  for (const name of FIXED) {
    const hit = all.find((c) => c.name === name);
    if (hit) picked.push(hit);
  }
  const random = seededRandom(seed);
  const small = all.filter((c) => c.size < 4_000_000);
  const sample = Number(process.env.DEB_SAMPLE ?? 12);
  for (let i = 0; i < sample; i++) picked.push(small[Math.floor(random() * small.length)]!);
  console.log(`seed ${seed}: ${picked.map((c) => c.name).join(" ")}`);
});

async function compareWithDpkgDeb(path: string): Promise<number> {
  const info = await readDeb(path, { listFiles: true });
  const rawControl = await run("dpkg-deb", ["-I", path, "control"], { env });
  expect(info.controlText).toBe(rawControl.stdout);
  const fields = await run("dpkg-deb", ["-f", path], { env });
  expect(info.control.entries()).toEqual(parseDeb822Single(fields.stdout).entries());
  const listing = await run("dpkg-deb", ["-c", path], { env });
  expect(info.files!.map(entryToListing)).toEqual(parseListing(listing.stdout));
  const sha = await run("sha256sum", [path]);
  expect(info.sha256).toBe(sha.stdout.split(" ")[0]);
  expect(info.size).toBe(statSync(path).size);
  return info.files!.length;
}

describe("readDeb against dpkg-deb on real archive packages", () => {
  it("agrees on control fields and file lists of a sample of trixie packages", async () => {
    let files = 0;
    for (const c of picked) {
      const path = await download(`${mirror}/${c.filename}`, join(cache, c.filename.split("/").pop()!));
      files += await compareWithDpkgDeb(path);
    }
    expect(picked.length).toBeGreaterThanOrEqual(20);
    expect(files).toBeGreaterThan(1000);
  });

  it("agrees on packages rebuilt with every compression dpkg-deb offers", async () => {
    const hello = picked.find((c) => c.name === "tzdata") ?? picked[0]!;
    const source = join(cache, hello.filename.split("/").pop()!);
    const tree = join(work, "tree");
    await run("dpkg-deb", ["-R", source, tree]);
    for (const z of ["zstd", "gzip", "xz", "none"]) {
      const out = join(work, `rebuilt-${z}.deb`);
      await run("dpkg-deb", [`-Z${z}`, "--root-owner-group", "--build", tree, out], { env });
      const listed = await compareWithDpkgDeb(out);
      expect(listed).toBeGreaterThan(100);
      expect((await readDeb(out)).dataCompression).toBe(z);
    }
    const levels = join(work, "rebuilt-zstd-19.deb");
    await run("dpkg-deb", ["-Zzstd", "-z19", "--build", tree, levels], { env });
    await compareWithDpkgDeb(levels);
  });

  it("reads the control files of the host's own package cache the way dpkg-deb does", async () => {
    const list = await run("sh", ["-c", "ls /var/cache/apt/archives/*.deb 2>/dev/null | head -40 || true"]);
    const paths = list.stdout.split("\n").filter((p) => p.endsWith(".deb"));
    for (const path of paths) {
      const info = await readDeb(path);
      const fields = await run("dpkg-deb", ["-f", path], { env });
      expect(info.control.entries()).toEqual(parseDeb822Single(fields.stdout).entries());
    }
    expect(paths.length).toBeGreaterThan(0);
  });
});
