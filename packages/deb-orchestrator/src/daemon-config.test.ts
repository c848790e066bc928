import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryOutput, runCli } from "@debian-bootc/core";
import { afterAll, describe, expect, it } from "vitest";
import { builderDefaults, hubDefaults, hubOptionsFrom, loadDaemonConfig } from "./daemon-config.js";
import { defaultLimits } from "./hub/limits.js";
import { tool } from "./tool.js";

const dir = mkdtempSync(join(tmpdir(), "daemon-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const shipped = (name: string) => new URL(`../etc/${name}.yaml`, import.meta.url).pathname;
// an empty XDG config and no /etc file may be read by accident: every test names its file
const env = { XDG_CONFIG_HOME: join(dir, "xdg") };

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("the shipped configuration files", () => {
  it.each([
    ["hub", hubDefaults],
    ["builder", builderDefaults],
  ] as const)("etc/%s.yaml is valid, and its commented-out values are the defaults", async (name, defaults) => {
    const text = readFileSync(shipped(name), "utf8");
    expect((await loadDaemonConfig(name, { configFile: shipped(name) }, env)).settings).toMatchObject(defaults);
    // uncomment `#key: value` lines (not the prose): the shown values must be what the code uses
    const uncommented = file(`${name}-uncommented.yaml`, text.replace(/^#(?=[a-z-]+: )/gm, ""));
    const { settings } = await loadDaemonConfig(name, { configFile: uncommented }, env);
    for (const [key, value] of Object.entries(defaults)) expect([key, settings[key as keyof typeof settings]]).toEqual([key, value]);
  });
});

describe("loadDaemonConfig", () => {
  it("names the file, line, field and what was expected", async () => {
    const path = file("bad.yaml", "listen: 127.0.0.1:8470\nlease: soon\n");
    await expect(loadDaemonConfig("hub", { configFile: path }, env)).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: expect.stringMatching(new RegExp(`^${path}:2:8: lease: .*expected number`)),
    });
    const nested = file("bad-builder.yaml", "arch: [amd64, 'AMD 64']\n");
    await expect(loadDaemonConfig("builder", { configFile: nested }, env)).rejects.toMatchObject({
      message: expect.stringContaining(`${nested}:1:15: arch[1]: expected a Debian architecture`),
    });
  });

  it("refuses unknown keys (a misspelt setting is not silently ignored)", async () => {
    const path = file("typo.yaml", "leese: 90\n");
    await expect(loadDaemonConfig("hub", { configFile: path }, env)).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: expect.stringContaining("leese"),
    });
  });

  it("lets flags win over the file, and the file over the defaults", async () => {
    const path = file("hub.yaml", "lease: 90\nsign: false\nlisten: 0.0.0.0:9000\n");
    const fromFile = (await loadDaemonConfig("hub", { configFile: path }, env)).settings;
    expect(fromFile).toMatchObject({ lease: 90, sign: false, listen: "0.0.0.0:9000", data: hubDefaults.data });
    const flagged = (await loadDaemonConfig("hub", { configFile: path, lease: "30", sign: true }, env)).settings;
    expect(flagged).toMatchObject({ lease: 30, sign: true, listen: "0.0.0.0:9000" });
    await expect(loadDaemonConfig("hub", { configFile: path, lease: "0" }, env)).rejects.toMatchObject({
      code: "USAGE",
      message: expect.stringMatching(/^--lease: /),
    });
  });

  it("reads the first of the XDG and /etc files when none is named", async () => {
    const xdg = join(dir, "xdg-found");
    mkdirSync(join(xdg, "deb-orchestrator"), { recursive: true });
    writeFileSync(join(xdg, "deb-orchestrator", "builder.yaml"), "capacity: 3\nprofile-map: {trixie-build: debian-trixie-amd64}\n");
    const loaded = await loadDaemonConfig("builder", { profileMap: ["sid-build=debian-sid-amd64"] }, { XDG_CONFIG_HOME: xdg });
    expect(loaded.path).toBe(join(xdg, "deb-orchestrator", "builder.yaml"));
    expect(loaded.settings).toMatchObject({ capacity: 3, "profile-map": { "sid-build": "debian-sid-amd64" } });
  });

  it("maps the hub's settings onto startHub's options", () => {
    const settings = {
      ...hubDefaults,
      listen: "[::1]:8471",
      "private-read": true,
      "public-url": "http://hub.test:8471",
      "max-task-log": 2,
    };
    expect(hubOptionsFrom(settings)).toEqual({
      db: `sqlite:${hubDefaults.data}/hub.db`,
      dataDir: hubDefaults.data,
      host: "::1",
      port: 8471,
      publicUrl: "http://hub.test:8471",
      leaseMs: 60_000,
      depWaitRecheckMs: 600_000,
      buildBase: expect.any(Function),
      publicRead: false,
      webPublicRead: true,
      limits: { ...defaultLimits, maxTaskLogBytes: 2 * 1024 ** 2 },
    });
  });
});

describe("the hub's OSTree directory (hub --ostree, hub.yaml's ostree)", () => {
  it("is served only when set, from the file or the flag, as an absolute path", async () => {
    expect(hubOptionsFrom(hubDefaults)).not.toHaveProperty("ostreeDir");
    const path = file("hub-ostree.yaml", "ostree: /srv/ostree\n");
    const fromFile = (await loadDaemonConfig("hub", { configFile: path }, env)).settings;
    expect(hubOptionsFrom(fromFile).ostreeDir).toBe("/srv/ostree");
    // the flag wins, and a relative directory is taken from where the hub is started (as up does)
    const flagged = (await loadDaemonConfig("hub", { configFile: path, ostree: "published" }, env)).settings;
    expect(hubOptionsFrom(flagged).ostreeDir).toBe(join(process.cwd(), "published"));
    await expect(loadDaemonConfig("hub", { configFile: file("hub-ostree-bad.yaml", "ostree: ''\n") }, env)).rejects.toMatchObject({
      code: "CONFIG_INVALID",
    });
  });
});

describe("the hub's dep-wait settings (dep-wait-recheck, build-base, profile-map)", () => {
  it("come from the file or the flags onto startHub's options", async () => {
    const path = file("hub-dep-wait.yaml", "dep-wait-recheck: 120\nprofile-map:\n  old-build: debian-bookworm-amd64\n");
    const { settings } = await loadDaemonConfig("hub", { configFile: path }, env);
    const options = hubOptionsFrom(settings);
    expect(options.depWaitRecheckMs).toBe(120_000);
    // the tag's entry, else the default profile: the base deb-mock builds on
    const resolve = options.buildBase as Exclude<typeof options.buildBase, false | undefined>;
    expect(await resolve("old-build", "amd64")).toMatchObject({ name: "debian", suite: "bookworm", components: "main" });
    expect(await resolve("new-build", "amd64")).toMatchObject({ name: "debian", suite: "trixie" });
    const flagged = (await loadDaemonConfig("hub", { configFile: path, depWaitRecheck: "30", buildBase: false }, env)).settings;
    expect(hubOptionsFrom(flagged)).toMatchObject({ depWaitRecheckMs: 30_000, buildBase: false });
    const mapped = (await loadDaemonConfig("hub", { profileMap: ["amd64=debian-sid-amd64"] }, env)).settings;
    expect(await (hubOptionsFrom(mapped).buildBase as typeof resolve)("any-build", "amd64")).toMatchObject({ suite: "sid" });
  });

  it("refuse bad values naming the file, the key and what was expected", async () => {
    const seconds = file("hub-recheck-bad.yaml", "dep-wait-recheck: often\n");
    await expect(loadDaemonConfig("hub", { configFile: seconds }, env)).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: expect.stringMatching(new RegExp(`^${seconds}:1:19: dep-wait-recheck: .*expected number`)),
    });
    const base = file("hub-base-bad.yaml", "build-base: maybe\n");
    await expect(loadDaemonConfig("hub", { configFile: base }, env)).rejects.toMatchObject({
      message: expect.stringMatching(new RegExp(`^${base}:1:13: build-base: .*expected boolean`)),
    });
    const key = file("hub-map-key-bad.yaml", "profile-map: {'../x': debian-trixie-amd64}\n");
    await expect(loadDaemonConfig("hub", { configFile: key }, env)).rejects.toMatchObject({
      message: expect.stringContaining("expected a build tag or an architecture"),
    });
    await expect(loadDaemonConfig("hub", { depWaitRecheck: "0" }, env)).rejects.toMatchObject({
      code: "USAGE",
      message: expect.stringMatching(/^--dep-wait-recheck: /),
    });
  });

  it("refuse a profile the hub's host does not have (hub --check-config exits 2 naming the file and the key)", async () => {
    const path = file("hub-map-typo.yaml", "profile-map:\n  old-build: debian-bookwrm-amd64\n");
    const out = memoryOutput();
    expect(await runCli(tool, ["hub", "--config-file", path, "--check-config"], out)).toBe(2);
    expect(out.errors[0]).toContain(
      `${path}: profile-map.old-build: expected a deb-mock profile on this host: no profile 'debian-bookwrm-amd64'`,
    );
    // without the base, the map is not read
    expect(await runCli(tool, ["hub", "--config-file", path, "--no-build-base", "--check-config"], memoryOutput())).toBe(0);
    const good = memoryOutput();
    expect(await runCli(tool, ["hub", "--profile-map", "amd64=debian-forky-amd64", "--check-config", "--json"], good)).toBe(0);
    expect(JSON.parse(good.text[0]!).settings).toMatchObject({ "profile-map": { amd64: "debian-forky-amd64" }, "build-base": true });
  });
});

describe("deb-orchestrator hub|builder --check-config", () => {
  it("prints the settings in effect and exits 0", async () => {
    const path = file("check.yaml", "lease: 120\n");
    const out = memoryOutput();
    expect(await runCli(tool, ["hub", "--config-file", path, "--check-config", "--listen", "127.0.0.1:9999", "--json"], out)).toBe(0);
    expect(JSON.parse(out.text[0]!)).toMatchObject({
      ok: true,
      file: path,
      settings: { lease: 120, listen: "127.0.0.1:9999", sign: true },
    });
  });

  it("exits 2 naming the file and the field when the file is invalid", async () => {
    const path = file("check-bad.yaml", "capacity: many\n");
    const out = memoryOutput();
    expect(await runCli(tool, ["builder", "--config-file", path, "--check-config"], out)).toBe(2);
    expect(out.errors[0]).toContain(`${path}:1:11: capacity:`);
  });
});
