import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { parseDefinition } from "../definition.js";
import { imageContainersTrust, pushSigningKey } from "./sign.js";
import { generateSigstoreKey } from "./sigstore-key.js";

// The signed copy itself runs trixie's skopeo (push.system.test.ts); here, which key and which trust.

const dir = useTempDir("sign-");
let baseDir: string;
let outputDir: string;
beforeEach(async () => {
  baseDir = join(dir(), "definition");
  outputDir = join(dir(), "out");
  await mkdir(join(baseDir, "keys"), { recursive: true });
});

const head = 'name: x\nversion: "1"\n';

describe("pushSigningKey and imageContainersTrust", () => {
  it("use the definition's key, its public half derived with the passphrase (a trailing newline in the file is not part of it)", async () => {
    const key = generateSigstoreKey(Buffer.from("words"));
    await writeFile(join(baseDir, "keys/sigstore.key"), key.privateKey);
    await writeFile(join(baseDir, "keys/pass"), "words\n");
    const def = parseDefinition(
      `${head}push:\n  registry: r.example/debian\n  signing: { key: keys/sigstore.key, passphraseFile: keys/pass }\n`,
      "d.yaml",
    );
    expect(await pushSigningKey(def, baseDir, outputDir)).toEqual({
      privateKey: join(baseDir, "keys/sigstore.key"),
      passphraseFile: join(baseDir, "keys/pass"),
      publicKey: key.publicKey,
    });
    expect(await imageContainersTrust(def, baseDir, outputDir)).toEqual({ scope: "r.example/debian", publicKey: key.publicKey });
  });

  it("refuse a key file that is a symlink out of the definition's folder", async () => {
    const key = generateSigstoreKey(Buffer.from("p"));
    await writeFile(join(dir(), "elsewhere.key"), key.privateKey);
    await symlink(join(dir(), "elsewhere.key"), join(baseDir, "keys/sigstore.key"));
    await writeFile(join(baseDir, "keys/pass"), "p");
    const def = parseDefinition(`${head}push:\n  signing: { key: keys/sigstore.key, passphraseFile: keys/pass }\n`, "d.yaml");
    await expect(pushSigningKey(def, baseDir, outputDir)).rejects.toThrow(expect.objectContaining({ code: "DEFINITION_INVALID" }));
  });

  it("fall back to the output directory's key; no trust without push.registry", async () => {
    const def = parseDefinition(`${head}push:\n  registry: r.example\n`, "d.yaml");
    const key = await pushSigningKey(def, baseDir, outputDir);
    expect(key.privateKey).toBe(join(outputDir, ".deb-bootc-compose", "sigstore.key"));
    expect(await imageContainersTrust(def, baseDir, outputDir)).toEqual({ scope: "r.example", publicKey: key.publicKey });
    expect(await imageContainersTrust(parseDefinition(head, "d.yaml"), baseDir, outputDir)).toBeUndefined();
  });
});
