import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { afterAll, describe, expect, it } from "vitest";
import { parseDuration } from "./profile-schema.js";
import { DEFAULT_PROFILE, listProfiles, loadProfile, mergeLayers, parseConfigOpts, shippedProfileDir } from "./profiles.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function configDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "deb-mock-profiles-"));
  dirs.push(dir);
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

describe("shipped profiles", () => {
  it("define trixie (default), bookworm, forky and sid for amd64", async () => {
    const names = (await listProfiles({ configDirs: [shippedProfileDir] })).map((p) => p.name);
    expect(names).toEqual(["debian-bookworm-amd64", "debian-forky-amd64", "debian-sid-amd64", "debian-trixie-amd64"]);
    const { profile } = await loadProfile(DEFAULT_PROFILE, { configDirs: [shippedProfileDir] });
    expect(profile).toMatchObject({
      name: "debian-trixie-amd64",
      suite: "trixie",
      architecture: "amd64",
      variant: "buildd",
      mirror: null,
      network: false,
    });
    expect(profile.cache.root).toBe("/var/cache/deb-mock");
  });
});

describe("layering", () => {
  it("applies shipped, then /etc-like, then user files, then --config-opt", async () => {
    const etc = await configDir({ "site-defaults.yaml": "mirror: http://mirror.invalid/debian\ncache:\n  indexMaxAge: 1h\n" });
    const user = await configDir({ "debian-sid-amd64.yaml": "basePackages: [fakeroot, eatmydata]\n" });
    const { profile, sources } = await loadProfile("debian-sid-amd64", {
      configDirs: [shippedProfileDir, etc, user],
      configOpts: ["network=true", "cache.lockTimeout=30s"],
    });
    expect(profile.mirror).toBe("http://mirror.invalid/debian");
    expect(profile.cache).toEqual({
      root: "/var/cache/deb-mock",
      baseMaxAge: "7d",
      indexMaxAge: "1h",
      lockTimeout: "30s",
      buildDepsLayers: 8,
    });
    expect(profile.basePackages).toEqual(["fakeroot", "eatmydata"]);
    expect(profile.network).toBe(true);
    expect(profile.suite).toBe("sid");
    expect(sources.at(-1)).toBe("--config-opt");
    expect(sources).toContain(join(user, "debian-sid-amd64.yaml"));
  });

  it("lets a later layer define a new profile", async () => {
    const etc = await configDir({
      "local-trixie.yaml": "description: local\nsuite: trixie\nextraSources: ['deb [trusted=yes] http://repo.invalid/ ./']\n",
    });
    const { profile } = await loadProfile("local-trixie", { configDirs: [shippedProfileDir, etc] });
    expect(profile.extraSources).toEqual(["deb [trusted=yes] http://repo.invalid/ ./"]);
    expect(profile.basePackages).toEqual(["fakeroot"]);
  });

  it("merges objects deeply and replaces arrays", () => {
    expect(mergeLayers({ a: [1, 2], c: { x: 1, y: 2 } }, { a: [3], c: { y: 5 } })).toEqual({ a: [3], c: { x: 1, y: 5 } });
  });
});

describe("errors name the file, the field path and what was expected", () => {
  it("for a bad value in a YAML file", async () => {
    const etc = await configDir({ "debian-trixie-amd64.yaml": "suite: trixie\ncache:\n  baseMaxAge: forever\n" });
    const error = await errorOf(loadProfile("debian-trixie-amd64", { configDirs: [shippedProfileDir, etc] }));
    expect(isCodedError(error, "CONFIG_INVALID")).toBe(true);
    expect(error.message).toContain(`${join(etc, "debian-trixie-amd64.yaml")}:3:`);
    expect(error.message).toContain("cache.baseMaxAge");
    expect(error.message).toContain("duration");
  });

  it("for an unknown field", async () => {
    const etc = await configDir({ "site-defaults.yaml": "netwrok: true\n" });
    const error = await errorOf(loadProfile("debian-trixie-amd64", { configDirs: [shippedProfileDir, etc] }));
    expect(isCodedError(error, "CONFIG_INVALID")).toBe(true);
    expect(error.message).toContain("netwrok");
  });

  it("for --config-opt", () => {
    expect(() => parseConfigOpts(["buildUid=12"])).toThrow(/--config-opt buildUid: expected a uid/);
    expect(() => parseConfigOpts(["network"])).toThrow(/expected KEY=VALUE/);
    expect(parseConfigOpts(["debBuildOptions=[noautodbgsym]", "parallel=4"])).toEqual({ debBuildOptions: ["noautodbgsym"], parallel: 4 });
  });

  it("for a profile that does not exist", async () => {
    const error = await errorOf(loadProfile("debian-potato-amd64", { configDirs: [shippedProfileDir] }));
    expect(isCodedError(error, "PROFILE_NOT_FOUND")).toBe(true);
  });

  it("for a cache root overlayfs cannot take", async () => {
    const error = await errorOf(
      loadProfile(DEFAULT_PROFILE, { configDirs: [shippedProfileDir], configOpts: ["cache.root=/var/cache/a,b"] }),
    );
    expect(error.message).toMatch(/cache\.root: expected an absolute path without spaces, commas/);
  });
});

describe("durations", () => {
  it("parse s, m, h and d", () => {
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("12h")).toBe(12 * 3_600_000);
    expect(parseDuration("7d")).toBe(7 * 86_400_000);
    expect(() => parseDuration("7 days")).toThrow();
  });
});
