import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseDefinition } from "../definition.js";
import { defaultUpdateKeyPath, updateSigningKey } from "./signing-key.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "update-key-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the update channel's signing key", () => {
  it("the default is made on first use in the data directory (0600), then kept", async () => {
    const env = { XDG_DATA_HOME: join(dir, "data"), HOME: join(dir, "home") };
    const definition = parseDefinition('name: x\nversion: "1"\nupdates:\n  url: https://u.example.org/\noutputs: [ostree]\n', "def.yaml");
    const first = await updateSigningKey(definition, dir, env);
    expect(first.path).toBe(join(dir, "data", "deb-bootc-compose", "keys", "updates-signing-key.asc"));
    expect(defaultUpdateKeyPath(env)).toBe(first.path);
    expect((await stat(first.path)).mode & 0o777).toBe(0o600);
    expect(first.fingerprint).toMatch(/^[0-9A-F]{40}$/);
    expect(first.publicKey).toContain("BEGIN PGP PUBLIC KEY BLOCK");
    const again = await updateSigningKey(definition, dir, env);
    expect(again.fingerprint).toBe(first.fingerprint);
    expect(await readFile(first.path, "utf8")).toBe(first.privateKey);
  });

  it("a named key that does not exist is an error, not a new key", async () => {
    const definition = parseDefinition(
      'name: x\nversion: "1"\nupdates:\n  url: https://u.example.org/\n  key: keys/missing.asc\noutputs: [ostree]\n',
      "def.yaml",
    );
    await expect(updateSigningKey(definition, dir, { XDG_DATA_HOME: join(dir, "data") })).rejects.toMatchObject({
      code: "UPDATE_KEY_INVALID",
    });
  });
});
