import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareSource, type PreparedFile, type SourceFileRef } from "./source-check.js";

/**
 * The decision whether a source is the one the hub built under its version: by checksums first, then, for
 * tarballs packed here from a tree, by content. The hub is a fake: a map from SHA256 to the files it
 * stored. Tarballs are made with tar and xz/gzip with different packing (order, times, owners, compression)
 * to show that only content counts.
 */

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "source-check-"));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A tree `pkg-1.0/` with the given files (path -> content; a leading "x:" makes it executable, "->" a link). */
async function tree(name: string, files: Record<string, string>, mtime = 1_700_000_000): Promise<string> {
  const root = join(dir, name, "pkg-1.0");
  await rm(join(dir, name), { recursive: true, force: true });
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path);
    await mkdir(join(full, ".."), { recursive: true });
    if (content.startsWith("->")) await symlink(content.slice(2), full);
    else {
      await writeFile(full, content.replace(/^x:/, ""));
      await chmod(full, content.startsWith("x:") ? 0o755 : 0o644);
      await utimes(full, mtime, mtime);
    }
  }
  return join(dir, name);
}

/** Pack a tree into NAME (its suffix picks the compression), with reproducible or careless options. */
async function pack(parent: string, name: string, careful = true): Promise<PreparedFile> {
  const out = join(parent, name);
  const compress = name.endsWith(".gz") ? ["-z"] : ["-J"];
  const options = careful ? ["--sort=name", "--mtime=@1700000000", "--owner=0", "--group=0", "--numeric-owner"] : ["--owner=1234"];
  await run("tar", [...compress, ...options, "-cf", out, "-C", parent, "pkg-1.0"]);
  const data = await readFile(out);
  return {
    name,
    sha256: createHash("sha256").update(data).digest("hex"),
    size: data.length,
    read: () => createReadStream(out),
  };
}

function hubOf(files: PreparedFile[]): { recorded: SourceFileRef[]; readRecorded: (f: SourceFileRef) => AsyncIterable<Uint8Array> } {
  const byHash = new Map(files.map((f) => [f.sha256, f]));
  return {
    recorded: files.map(({ name, sha256, size }) => ({ name, sha256, size })),
    readRecorded: (f) => {
      const file = byHash.get(f.sha256);
      if (!file?.read) throw new Error(`the fake hub has no artifact ${f.sha256}`);
      return file.read();
    },
  };
}

const dsc = (sha: string): PreparedFile => ({ name: "pkg_1.0.dsc", sha256: sha.repeat(64), size: 300 });

describe("compareSource", () => {
  it("is the same by checksums when every file but the .dsc has the hub's SHA256", async () => {
    const t = await tree("same", { "debian/rules": "x:#!/usr/bin/make -f\n", README: "hello\n" });
    const tar = await pack(t, "pkg_1.0.tar.xz");
    const hub = hubOf([dsc("a"), tar]);
    const readRecorded = () => {
      throw new Error("must not download when the checksums match");
    };
    expect(await compareSource([dsc("b"), tar], hub.recorded, { byContent: true, readRecorded })).toEqual({ same: true, by: "checksums" });
  });

  it("is the same by contents when only the packing differs (times, owners, order, compression)", async () => {
    const ours = await tree("ours", { "debian/rules": "x:#!/usr/bin/make -f\n", README: "hello\n", link: "->README" });
    const theirs = await tree("theirs", { "debian/rules": "x:#!/usr/bin/make -f\n", README: "hello\n", link: "->README" }, 1_600_000_000);
    const now = await pack(ours, "pkg_1.0.tar.xz");
    const then = await pack(theirs, "pkg_1.0.tar.gz", false);
    expect(now.sha256).not.toBe(then.sha256);
    const hub = hubOf([dsc("a"), then]);
    expect(await compareSource([dsc("b"), now], hub.recorded, { byContent: true, readRecorded: hub.readRecorded })).toEqual({
      same: true,
      by: "contents",
    });
  });

  it("lists what changed: content, added, removed, the executable bit, a link's target", async () => {
    const theirs = await tree("before", {
      "debian/rules": "x:#!/usr/bin/make -f\n",
      motd: "welcome\n",
      "old.txt": "gone soon\n",
      "run.sh": "x:echo hi\n",
      link: "->motd",
    });
    const ours = await tree("after", {
      "debian/rules": "x:#!/usr/bin/make -f\n",
      motd: "welcome, changed\n",
      "new.txt": "new\n",
      "run.sh": "echo hi\n",
      link: "->new.txt",
    });
    const hub = hubOf([dsc("a"), await pack(theirs, "pkg_1.0.tar.xz")]);
    const verdict = await compareSource([dsc("b"), await pack(ours, "pkg_1.0.tar.xz")], hub.recorded, {
      byContent: true,
      readRecorded: hub.readRecorded,
    });
    expect(verdict).toEqual({
      same: false,
      changes: [
        "link: link to motd -> link to new.txt",
        "motd: content changed",
        "new.txt: added",
        "old.txt: removed",
        "run.sh: no longer executable",
      ],
    });
  });

  it("does not look inside the files when byContent is off (a .dsc given as is): a different SHA256 is a different source", async () => {
    const t = await tree("given", { README: "hello\n" });
    const a = await pack(t, "pkg_1.0.tar.xz");
    const b = await pack(t, "pkg_1.0.tar.gz");
    const hub = hubOf([a]);
    const verdict = await compareSource([b], hub.recorded, { byContent: false, readRecorded: hub.readRecorded });
    expect(verdict.same).toBe(false);
    expect(!verdict.same && verdict.changes[0]).toMatch(
      /^pkg_1\.0\.tar\.gz: SHA256 [0-9a-f]{64}, the hub's pkg_1\.0\.tar\.xz has [0-9a-f]{64}$/,
    );
  });

  it("names files that only one side has (a source that became non-native, say)", async () => {
    const native = { name: "pkg_1.0.tar.xz", sha256: "1".repeat(64), size: 10 };
    const orig = { name: "pkg_1.0.orig.tar.xz", sha256: "2".repeat(64), size: 10 };
    const debian = { name: "pkg_1.0-1.debian.tar.xz", sha256: "3".repeat(64), size: 10 };
    const readRecorded = () => {
      throw new Error("unused");
    };
    const verdict = await compareSource([orig, debian], [native], { byContent: true, readRecorded });
    expect(verdict).toEqual({
      same: false,
      changes: [
        "pkg_1.0-1.debian.tar.xz: not in the hub's build",
        "pkg_1.0.orig.tar.xz: not in the hub's build",
        "pkg_1.0.tar.xz: in the hub's build, not in this source",
      ],
    });
  });

  it("is not the same when the hub's file cannot be read to compare contents", async () => {
    const t = await tree("missing", { README: "hello\n" });
    const now = await pack(t, "pkg_1.0.tar.xz");
    const recorded = [{ name: "pkg_1.0.tar.xz", sha256: "f".repeat(64), size: 1 }];
    const verdict = await compareSource([now], recorded, {
      byContent: true,
      readRecorded: () => {
        throw new Error("ARTIFACT_MISSING: no artifact");
      },
    });
    expect(verdict.same).toBe(false);
    expect(!verdict.same && verdict.changes[0]).toContain("the contents cannot be compared: ARTIFACT_MISSING");
  });

  it("keeps a .debian.tar's paths as they are (no top folder to drop)", async () => {
    const parent = join(dir, "deb");
    await rm(parent, { recursive: true, force: true });
    const make = async (name: string, rules: string) => {
      await mkdir(join(parent, name, "debian"), { recursive: true });
      await writeFile(join(parent, name, "debian", "rules"), rules);
      const out = join(parent, `${name}.debian.tar.xz`);
      await run("tar", ["-J", "-cf", out, "-C", join(parent, name), "debian"]);
      const data = await readFile(out);
      return {
        name: "pkg_1.0-1.debian.tar.xz",
        sha256: createHash("sha256").update(data).digest("hex"),
        size: data.length,
        read: () => createReadStream(out),
      };
    };
    const hub = hubOf([await make("a", "one\n")]);
    const verdict = await compareSource([await make("b", "two\n")], hub.recorded, { byContent: true, readRecorded: hub.readRecorded });
    expect(verdict).toEqual({ same: false, changes: ["debian/rules: content changed"] });
  });
});
