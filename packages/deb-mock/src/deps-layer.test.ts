import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../test/temp-dir.js";
import {
  aptInputsUntouched,
  depsLayerKey,
  entriesBeyondFresh,
  listNonDirectories,
  missingDownloads,
  parseAptPrintUris,
  parsePlanMemo,
  planMemoPath,
  readPlanMemo,
  sourceLineUris,
  splitUpper,
  unsafeDownloads,
  writePlanMemo,
} from "./deps-layer.js";

const fixture = (name: string) => readFile(join(import.meta.dirname, "__fixtures__", "apt", name), "utf8");

/** A temporary directory for each test (the file-system tests use it). */
const dir = useTempDir("deb-mock-deps-layer-");

describe("parseAptPrintUris", () => {
  it("reads every .deb with its SHA256, the removals and the summary (trixie apt, hello's Build-Depends)", async () => {
    const plan = parseAptPrintUris(await fixture("print-uris-hello-conflicts.txt"));
    expect(plan.newlyInstalled).toBe(45);
    expect(plan.downloads).toHaveLength(45);
    expect(plan.removed).toEqual(["fakeroot"]);
    expect(plan.toRemove).toBe(1);
    expect(plan.nothingToDo).toBe(false);
    expect(plan.downloads[2]).toEqual({
      uri: "http://mirror.invalid/debian/pool/main/p/procps/libproc2-0_4.0.4-9_amd64.deb",
      file: "libproc2-0_2%3a4.0.4-9_amd64.deb",
      size: 65596,
      sha256: "c9d61caab1b2ddfc3f17edb95be31b9809fcb2daf27d853dff615bc4ebd08b4b",
    });
    expect(plan.downloads.every((d) => /^[0-9a-f]{64}$/.test(d.sha256 ?? ""))).toBe(true);
  });

  it("sees a transaction with nothing to do", async () => {
    const plan = parseAptPrintUris(await fixture("print-uris-nothing.txt"));
    expect(plan).toMatchObject({ downloads: [], removed: [], nothingToDo: true });
    expect(depsLayerKey(plan)).toBeUndefined();
  });

  it("counts reinstalled and downgraded packages", () => {
    const plan = parseAptPrintUris(
      "0 upgraded, 1 newly installed, 1 reinstalled, 2 downgraded, 0 to remove and 3 not upgraded.\n" +
        "'http://x.invalid/a.deb' a_1_all.deb 10 SHA256:" +
        "a".repeat(64),
    );
    expect(plan.otherChanged).toBe(3);
    expect(depsLayerKey(plan)).toBeUndefined(); // 4 packages change but only one .deb is listed
  });

  it("rejects output without apt's summary line", () => {
    expect(() => parseAptPrintUris("E: Unable to locate package foo\n")).toThrow(/summary/);
  });
});

describe("depsLayerKey", () => {
  it("depends on the exact .debs and removals, not on their order", async () => {
    const text = await fixture("print-uris-hello-conflicts.txt");
    const plan = parseAptPrintUris(text);
    const key = depsLayerKey(plan);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(depsLayerKey({ ...plan, downloads: [...plan.downloads].reverse() })).toBe(key);
    const otherHash = plan.downloads.map((d, i) => (i === 0 ? { ...d, sha256: "0".repeat(64) } : d));
    expect(depsLayerKey({ ...plan, downloads: otherHash })).not.toBe(key);
    expect(depsLayerKey({ ...plan, removed: [], toRemove: 0 })).not.toBe(key);
  });

  it("declines a .deb without a SHA256 (it could not be identified)", async () => {
    const plan = parseAptPrintUris(await fixture("print-uris-hello-conflicts.txt"));
    const [first, ...rest] = plan.downloads;
    expect(depsLayerKey({ ...plan, downloads: [{ ...first!, sha256: undefined }, ...rest] })).toBeUndefined();
  });
});

describe("files", () => {
  it("missingDownloads checks name, size and SHA256 in the shared archive", async () => {
    const archives = join(dir(), "archives");
    await mkdir(archives);
    const good = Buffer.from("good deb");
    await writeFile(join(archives, "a_1_all.deb"), good);
    await writeFile(join(archives, "b_1_all.deb"), "same size, other bytes");
    const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
    const downloads = [
      { uri: "u", file: "a_1_all.deb", size: good.length, sha256: sha(good) },
      { uri: "u", file: "b_1_all.deb", size: 22, sha256: sha("the expected contents!") },
      { uri: "u", file: "c_1_all.deb", size: 1, sha256: sha("c") },
    ];
    expect((await missingDownloads(archives, downloads)).map((d) => d.file)).toEqual(["b_1_all.deb", "c_1_all.deb"]);
  });

  it("splitUpper keeps what was there before on top and turns the rest into a layer", async () => {
    const upper = join(dir(), "upper");
    const work = join(dir(), "work");
    const layer = join(dir(), "layer");
    await mkdir(join(upper, "etc/apt/sources.list.d"), { recursive: true });
    await mkdir(join(upper, "root"), { recursive: true, mode: 0o700 });
    await mkdir(join(upper, "usr/bin"), { recursive: true });
    await mkdir(join(upper, "var/cache/apt"), { recursive: true });
    await mkdir(join(work, "work"), { recursive: true });
    await writeFile(join(upper, "etc/apt/sources.list.d/deb-mock-extra.list"), "deb [trusted=yes] file:/r ./\n");
    await writeFile(join(upper, "root/.history"), "x");
    const before = await listNonDirectories(upper);
    expect(before.sort()).toEqual(["etc/apt/sources.list.d/deb-mock-extra.list", "root/.history"]);
    // what the installation adds
    await writeFile(join(upper, "usr/bin/tool"), "#!/bin/sh\n");
    await symlink("tool", join(upper, "usr/bin/tool-alias"));
    await writeFile(join(upper, "var/cache/apt/pkgcache.bin"), "stale");

    await splitUpper(upper, work, layer, before);
    expect((await listNonDirectories(upper)).sort()).toEqual(before.sort());
    expect((await stat(join(upper, "root"))).mode & 0o777).toBe(0o700);
    expect((await listNonDirectories(layer)).sort()).toEqual(["usr/bin/tool", "usr/bin/tool-alias"]);
    expect((await lstat(join(layer, "usr/bin/tool-alias"))).isSymbolicLink()).toBe(true);
    expect(existsSync(join(layer, "var/cache/apt/pkgcache.bin"))).toBe(false);
    expect(await readdir(work)).toEqual([]);
  });
});

describe("plan memos", () => {
  const gen = "/cache/bases/k/gen-20261126T205822Z-1962";
  const index = "/cache/bases/k/index-20261126T205903Z-1962";
  const args = ["install", "ostree"];

  it("are named by the base generation, the index generation and the exact command line", () => {
    const path = planMemoPath(gen, index, args);
    expect(path).toMatch(/^\/cache\/bases\/k\/gen-20261126T205822Z-1962\/plans\/index-20261126T205903Z-1962\/[0-9a-f]{64}\.json$/);
    expect(planMemoPath(gen, index, ["install", "ostree"])).toBe(path);
    expect(planMemoPath(gen, "/cache/bases/k/index-20261127T090000Z-7", args)).not.toBe(path);
    expect(planMemoPath(gen, index, ["install", "ostree", "grub-common"])).not.toBe(path);
    expect(planMemoPath(gen, index, ["install", "grub-common", "ostree"])).not.toBe(path); // apt's order, not ours to judge
    expect(planMemoPath(gen, index, ["install", "ostree=2025.2-1"])).not.toBe(path);
  });

  it("round-trip a real plan, and are ignored for other arguments or when damaged", async () => {
    const plan = parseAptPrintUris(await fixture("print-uris-hello-conflicts.txt"));
    const path = planMemoPath(join(dir(), "gen-1"), join(dir(), "index-1"), args);
    await writePlanMemo(path, args, plan);
    const read = await readPlanMemo(path, args);
    expect(read).toEqual(plan);
    expect(depsLayerKey(read!)).toBe(depsLayerKey(plan));
    const text = await readFile(path, "utf8");
    expect(parsePlanMemo(text, ["install", "ostree-boot"])).toBeUndefined();
    expect(parsePlanMemo(text.slice(0, text.length / 2), args)).toBeUndefined();
    expect(parsePlanMemo(text.replace('"format":1', '"format":0'), args)).toBeUndefined();
    expect(parsePlanMemo(text.replace(/"size":\d+/, '"size":"65596"'), args)).toBeUndefined();
    expect(parsePlanMemo(text.replace(/"sha256":"[0-9a-f]{64}"/, '"sha256":"SHA256"'), args)).toBeUndefined();
    expect(await readPlanMemo(join(dir(), "absent.json"), args)).toBeUndefined();
  });

  it("of an older index generation go when a newer one's memo is written", async () => {
    const plan = parseAptPrintUris(await fixture("print-uris-nothing.txt"));
    const old = planMemoPath(join(dir(), "gen-1"), join(dir(), "index-1"), args);
    const other = planMemoPath(join(dir(), "gen-1"), join(dir(), "index-1"), ["install", "pv"]);
    await writePlanMemo(old, args, plan);
    await writePlanMemo(other, ["install", "pv"], plan);
    expect(await readdir(join(dir(), "gen-1", "plans", "index-1"))).toHaveLength(2);
    const now = planMemoPath(join(dir(), "gen-1"), join(dir(), "index-2"), args);
    await writePlanMemo(now, args, plan);
    expect(await readdir(join(dir(), "gen-1", "plans"))).toEqual(["index-2"]);
    expect(await readPlanMemo(now, args)).toEqual(plan);
  });

  it("apply only while the snapshot leaves apt's configuration, lists and dpkg database alone", async () => {
    const upper = join(dir(), "upper");
    await mkdir(join(upper, "build-output"), { recursive: true });
    await mkdir(join(upper, "var/cache/apt"), { recursive: true });
    expect(await aptInputsUntouched(upper)).toBe(true);
    for (const rel of ["etc/apt/sources.list.d", "var/lib/apt/lists", "var/lib/dpkg"]) {
      await mkdir(join(upper, rel), { recursive: true });
      expect(await aptInputsUntouched(upper)).toBe(false);
      await rm(join(upper, rel.split("/").slice(0, 2).join("/")), { recursive: true });
    }
    expect(await aptInputsUntouched(upper)).toBe(true);
  });
});

describe("a layer's snapshot is fresh", () => {
  it("when its upper holds only the extra repositories' sources, keys, lists and apt's caches", async () => {
    const upper = join(dir(), "upper");
    for (const rel of ["etc/apt/sources.list.d", "etc/apt/deb-mock-keys", "var/lib/apt/lists/partial", "var/cache/apt"]) {
      await mkdir(join(upper, rel), { recursive: true });
    }
    await writeFile(join(upper, "etc/apt/sources.list.d/deb-mock-extra.list"), "deb http://127.0.0.1/ x main\n");
    await writeFile(join(upper, "etc/apt/deb-mock-keys/extra-1.asc"), "key");
    await writeFile(join(upper, "var/cache/apt/pkgcache.bin"), "");
    expect(await entriesBeyondFresh(upper)).toEqual([]);
    // what a command before the installation could leave: apt configuration, a file, a directory
    await writeFile(join(upper, "etc/apt/sources.list.d/other.list"), "");
    await mkdir(join(upper, "etc/apt/apt.conf.d"));
    await mkdir(join(upper, "var/tmp"), { recursive: true });
    await writeFile(join(upper, "hook"), "");
    expect((await entriesBeyondFresh(upper)).sort()).toEqual([
      "etc/apt/apt.conf.d",
      "etc/apt/sources.list.d/other.list",
      "hook",
      "var/tmp",
    ]);
  });
});

describe("unsafeDownloads", () => {
  const sources = sourceLineUris([
    "deb http://mirror.invalid/debian trixie main",
    "deb [signed-by=/etc/apt/deb-mock-keys/extra-1.asc] http://127.0.0.1:8080/repo/ deb-mock-test main",
    "not a source line",
  ]);
  const deb = (uri: string, file = "hello_2.10-3_amd64.deb") => ({ uri, file, size: 1, sha256: "0".repeat(64) });

  it("reads each source line's URI", () => {
    expect(sources).toEqual(["http://mirror.invalid/debian", "http://127.0.0.1:8080/repo/"]);
  });

  it("keeps downloads from the configured sources and refuses every other URI or file name", () => {
    const good = [
      deb("http://mirror.invalid/debian/pool/main/h/hello/hello_2.10-3_amd64.deb"),
      deb("http://127.0.0.1:8080/repo/pool/x.deb", "x_1%3a1.0_all.deb"),
    ];
    expect(unsafeDownloads(good, sources)).toEqual([]);
    const bad = [
      deb("http://127.0.0.1:22/pool/x.deb"), // another port of the same host
      deb("http://mirror.invalid/debianx/pool/x.deb"), // a longer path that merely starts the same
      deb("http://mirror.invalid/debian/../private/x.deb"),
      deb("http://mirror.invalid/debian/pool/x.deb", "../../etc/passwd.deb"),
      deb("http://mirror.invalid/debian/pool/x.deb", ".hidden.deb"),
      deb("http://mirror.invalid/debian/pool/x.deb", "x.conf"),
    ];
    expect(unsafeDownloads(bad, sources)).toEqual(bad);
  });
});
