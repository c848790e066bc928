import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveHubSettings } from "./client-config.js";

/** Which hub and token a client uses: explicit values, then the environment, then client.yaml. */

let dir = "";
let env: NodeJS.ProcessEnv = {};
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "client-config-"));
  await mkdir(join(dir, "xdg", "deb-orchestrator"), { recursive: true });
  await writeFile(join(dir, "config.token"), "token-from-the-config-file\n");
  await writeFile(join(dir, "flag.token"), "token-from-the-flag-file\n");
  await writeFile(
    join(dir, "xdg", "deb-orchestrator", "client.yaml"),
    `hub: http://config.invalid:8470\ntoken-file: ${join(dir, "config.token")}\n`,
  );
  env = { XDG_CONFIG_HOME: join(dir, "xdg") };
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("resolveHubSettings", () => {
  it("takes the configuration file when nothing else says", async () => {
    expect(await resolveHubSettings({ env })).toEqual({
      url: "http://config.invalid:8470",
      token: "token-from-the-config-file",
      configPath: join(dir, "xdg", "deb-orchestrator", "client.yaml"),
    });
  });

  it("prefers the environment to the file, and explicit values to the environment", async () => {
    const withEnv = { ...env, DEB_ORCHESTRATOR_HUB: "http://env.invalid:1", DEB_ORCHESTRATOR_TOKEN: "token-from-the-environment" };
    expect(await resolveHubSettings({ env: withEnv })).toMatchObject({ url: "http://env.invalid:1", token: "token-from-the-environment" });
    expect(
      await resolveHubSettings({
        env: withEnv,
        hub: "http://flag.invalid:2",
        tokenFile: join(dir, "flag.token"),
        tokenFileOrigin: "--token-file",
      }),
    ).toMatchObject({ url: "http://flag.invalid:2", token: "token-from-the-flag-file" });
    expect(await resolveHubSettings({ env: withEnv, token: "explicit-token", tokenFile: join(dir, "flag.token") })).toMatchObject({
      token: "explicit-token",
    });
  });

  it("has no URL when no source names a hub", async () => {
    expect(await resolveHubSettings({ env: { XDG_CONFIG_HOME: join(dir, "nothing-here") } })).toEqual({});
  });

  it("names the token file it cannot read and where it was given", async () => {
    const missing = join(dir, "missing.token");
    const error = await resolveHubSettings({ env, tokenFile: missing, tokenFileOrigin: "build.tokenFile" }).catch((e: unknown) => e);
    expect(isCodedError(error, "CLIENT_CONFIG")).toBe(true);
    expect((error as Error).message).toMatch(new RegExp(`^cannot read the token file ${missing} \\(build\\.tokenFile\\): ENOENT`));
  });

  it("refuses an unknown key in the configuration file, naming it", async () => {
    const file = join(dir, "typo.yaml");
    await writeFile(file, "hub: http://h.invalid:1\ntoken_file: /x\n");
    const error = await resolveHubSettings({ env, configFile: file }).catch((e: unknown) => e);
    expect(isCodedError(error)).toBe(true);
    expect((error as Error).message).toContain("token_file");
  });
});
