import { readFileSync } from "node:fs";
import { isCodedError } from "@debian-bootc/core";
import { describe, expect, it } from "vitest";
import { lockfilePins, makeLockfile, parseLockfile } from "./lockfile.js";
import { type IndexPackage, parsePackagesIndex } from "./repository-index.js";
import { CandidateView, type ResolveOptions, resolvePackageSet } from "./resolver.js";

const origin = { repository: "fixture", url: "file:///fixture", suite: "trixie", component: "main" };
const universe = parsePackagesIndex(readFileSync(new URL("__fixtures__/universe.Packages", import.meta.url), "utf8"), origin);

function resolve(packages: string[], options: Partial<ResolveOptions> & { exclude?: string[]; pins?: ResolveOptions["pins"] } = {}) {
  const view = new CandidateView(universe, options.arch ?? "amd64", { exclude: options.exclude ?? [], pins: options.pins ?? [] });
  return resolvePackageSet(view, { arch: "amd64", baseline: "none", ...options, packages });
}

function names(set: { packages: IndexPackage[] }): string[] {
  return set.packages.map((p) => p.name);
}

function thrown(fn: () => unknown): { code: string; message: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (error) {
    if (isCodedError(error)) return { code: error.code, message: error.message, details: error.details };
    throw error;
  }
  throw new Error("expected an error");
}

describe("resolvePackageSet", () => {
  it("follows Pre-Depends and Depends, and chooses the highest version of the target architecture", () => {
    const set = resolve(["dash", "hello"]);
    expect(names(set)).toEqual(["dash", "hello", "libc6", "libgcc-s1"]);
    const hello = set.packages.find((p) => p.name === "hello")!;
    expect([hello.version, hello.architecture]).toEqual(["2.10-5", "amd64"]);
    expect(set.reasons.get("libgcc-s1")).toEqual({ kind: "dependency", parent: "libc6", field: "Depends", relation: "libgcc-s1" });
  });

  it("adds the baseline of each mmdebstrap variant", () => {
    expect(names(resolve([], { baseline: "essential" }))).toEqual(["base-files", "dash", "libc6", "libgcc-s1"]);
    expect(names(resolve([], { baseline: "apt" }))).toEqual(["apt", "base-files", "dash", "libapt-pkg7.0", "libc6", "libgcc-s1"]);
    // libc6 is Priority: required; cron is important
    expect(names(resolve([], { baseline: "required" }))).not.toContain("cron");
    expect(names(resolve([], { baseline: "important" }))).toEqual(expect.arrayContaining(["cron", "sensible-utils", "apt"]));
    expect(resolve([], { baseline: "required" }).reasons.get("base-files")).toEqual({ kind: "baseline", why: "Essential: yes" });
  });

  it("takes the first alternative when nothing chosen satisfies the group", () => {
    expect(names(resolve(["linux-image-amd64"]))).toEqual([
      "initramfs-tools",
      "kmod",
      "libc6",
      "libgcc-s1",
      "linux-image-6.12.48-amd64",
      "linux-image-amd64",
    ]);
  });

  it("prefers an alternative already chosen, also through Provides, over the first one", () => {
    const set = resolve(["linux-image-amd64", "dracut"]);
    expect(names(set)).toContain("dracut");
    expect(names(set)).not.toContain("initramfs-tools");
  });

  it("falls through an excluded alternative to a provider of the virtual one, ranked by priority then name", () => {
    const set = resolve(["linux-image-amd64"], { exclude: ["initramfs-tools"] });
    expect(names(set)).toContain("dracut");
    expect(names(set)).not.toContain("tiny-initramfs");
    const viaMta = resolve(["mailer"]);
    expect(names(viaMta)).toContain("exim4-daemon-light"); // standard ranks above optional postfix
    expect(names(viaMta)).not.toContain("postfix");
  });

  it("satisfies versioned relations only with versioned provides that match", () => {
    const set = resolve(["abi-user"]);
    expect(names(set)).toContain("libfoo2");
    expect(names(set)).not.toContain("libfoo1");
    const error = thrown(() => resolve(["unversioned-user"]));
    expect(error.code).toBe("PKGSET_UNSATISFIABLE");
    expect(error.message).toContain("provided without a version by qux");
  });

  it("installs a requested virtual package through its only provider and refuses an ambiguous one", () => {
    expect(resolve(["qux-virtual"]).reasons.get("qux")).toEqual({ kind: "requested", via: "qux-virtual" });
    const error = thrown(() => resolve(["mail-transport-agent"]));
    expect(error.message).toBe(
      "amd64: mail-transport-agent is a virtual package provided by exim4-daemon-light, postfix; list one of them",
    );
  });

  it("reports the exact unsatisfiable relation chain", () => {
    const error = thrown(() => resolve(["top"], { label: "minimal/amd64" }));
    expect(error.code).toBe("PKGSET_UNSATISFIABLE");
    expect(error.message).toBe(
      "minimal/amd64: unsatisfiable: top (requested) -> top Depends mid (>= 1) -> mid 1.0 Depends low (>= 2): low (>= 2): available: low 1.0 (amd64)",
    );
    expect(error.details?.chain).toEqual(["top (requested)", "top Depends mid (>= 1)", "mid 1.0 Depends low (>= 2)"]);
  });

  it("names the exclusion when an excluded package is the only way", () => {
    const error = thrown(() => resolve(["linux-image-amd64"], { exclude: ["initramfs-tools", "dracut", "tiny-initramfs"] }));
    expect(error.message).toContain("initramfs-tools: initramfs-tools is excluded by the definition");
    expect(error.message).toContain(
      "linux-image-amd64 (requested) -> linux-image-amd64 Depends linux-image-6.12.48-amd64 (= 6.12.48-1) -> ",
    );
  });

  it("refuses two requested packages that conflict, with both chains", () => {
    const error = thrown(() => resolve(["x-server", "y-server"]));
    expect(error.code).toBe("PKGSET_CONFLICT");
    expect(error.message).toBe("amd64: y-server cannot be installed with x-server: x-server 1.0 Conflicts y-server");
    const breaks = thrown(() => resolve(["breaks-x", "x-server"]));
    expect(breaks.message).toBe("amd64: x-server cannot be installed with breaks-x: breaks-x 1.0 Breaks x-server (<< 2)");
  });

  it("skips an alternative that conflicts with the selection", () => {
    const set = resolve(["x-server", "needs-y-or-w"]);
    expect(names(set)).toContain("w-server");
    expect(names(set)).not.toContain("y-server");
    // and a dependency whose only way conflicts is an error naming the conflict
    const error = thrown(() => resolve(["dracut", "needs-initramfs-tools"]));
    expect(error.message).toBe(
      "amd64: unsatisfiable: needs-initramfs-tools (requested) -> needs-initramfs-tools 1.0 Depends initramfs-tools: " +
        "initramfs-tools: initramfs-tools 0.148.3 conflicts: dracut 106-6 Conflicts initramfs-tools",
    );
  });

  it("follows Recommends only when asked, skipping unsatisfiable ones", () => {
    expect(names(resolve(["recommender"]))).toEqual(["recommender"]);
    expect(names(resolve(["recommender"], { recommends: true }))).toEqual(["recommended-pkg", "recommender"]);
  });

  it("fails on an unknown package with a suggestion", () => {
    const error = thrown(() => resolve(["helo"]));
    expect(error.code).toBe("PKGSET_UNKNOWN_PACKAGE");
    expect(error.message).toBe('amd64: no package helo for amd64 in the repositories (did you mean "hello"?)');
  });
});

describe("lockfile pinning", () => {
  it("pins the locked versions and gives the identical set again", () => {
    const first = resolve(["hello", "linux-image-amd64"], { baseline: "required" });
    const lock = parseLockfile(
      JSON.stringify(makeLockfile(new Map([["minimal", new Map([["amd64", first.packages]])]]), { suite: "trixie" })),
      "lock.json",
    );
    expect(lock.packages.find((p) => p.name === "hello")).toMatchObject({ version: "2.10-5", arch: "amd64" });
    const again = resolve(["hello", "linux-image-amd64"], { baseline: "required", pins: lockfilePins(lock) });
    expect(again.packages.map((p) => `${p.name}=${p.version}`)).toEqual(first.packages.map((p) => `${p.name}=${p.version}`));
  });

  it("keeps an older pinned version instead of the newest", () => {
    const hello = universe.find((p) => p.name === "hello" && p.version === "2.10-3")!;
    const set = resolve(["hello"], { pins: [{ name: "hello", version: "2.10-3", arch: "amd64", sha256: hello.sha256 }] });
    expect(set.packages[0]!.version).toBe("2.10-3");
  });

  it("fails clearly when a pinned version is gone or its content differs", () => {
    const gone = thrown(() => resolve(["hello"], { pins: [{ name: "hello", version: "2.9-1", arch: "amd64" }] }));
    expect(gone.message).toBe(
      "amd64: hello: pinned to 2.9-1 (amd64) by the lockfile, but the repositories have 2.10-3 (amd64), 2.10-5 (amd64)",
    );
    const changed = thrown(() => resolve(["top"], { pins: [{ name: "mid", version: "1.0", arch: "amd64", sha256: "0".repeat(64) }] }));
    expect(changed.message).toContain(`mid (>= 1): mid is pinned to 1.0 with SHA256 ${"0".repeat(64)} by the lockfile`);
  });

  it("rejects malformed lockfiles with the field path", () => {
    expect(thrown(() => parseLockfile("{", "l.json")).code).toBe("LOCKFILE_INVALID");
    const bad = thrown(() =>
      parseLockfile(
        JSON.stringify({ lockfileVersion: 1, packages: [{ name: "a", version: "1", arch: "amd64", sha256: "xyz" }] }),
        "l.json",
      ),
    );
    expect(bad.message).toMatch(/^l\.json: packages\.0\.sha256: /);
  });
});
