import { createPublicKey, createSign, createVerify } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { defaultSigstoreKey, generateSigstoreKey, openSigstoreKey, sigstorePublicKey } from "./sigstore-key.js";

// The format is checked against the real readers (trixie's skopeo and cosign) in push.system.test.ts.

function envelope(pem: string): Record<string, unknown> {
  const body = pem.split("\n").slice(1, -2).join("");
  return JSON.parse(Buffer.from(body, "base64").toString("utf8"));
}

function reencode(pem: string, change: (e: Record<string, unknown>) => void): string {
  const e = envelope(pem);
  change(e);
  const b64 = Buffer.from(JSON.stringify(e))
    .toString("base64")
    .match(/.{1,64}/g)!
    .join("\n");
  return `-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n${b64}\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n`;
}

describe("sigstore keys", () => {
  it("makes an encrypted P-256 key whose public half it gives back only with the passphrase", () => {
    const key = generateSigstoreKey(Buffer.from("secret"));
    expect(key.privateKey).toMatch(/^-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n/);
    expect(envelope(key.privateKey)).toMatchObject({
      kdf: { name: "scrypt", params: { N: 32768, r: 8, p: 1 } },
      cipher: { name: "nacl/secretbox" },
    });
    expect(createPublicKey(key.publicKey).asymmetricKeyDetails).toEqual({ namedCurve: "prime256v1" });
    expect(sigstorePublicKey(key.privateKey, Buffer.from("secret"), "k")).toBe(key.publicKey);
    const wrong = (() => {
      try {
        sigstorePublicKey(key.privateKey, Buffer.from("Secret"), "k");
      } catch (error) {
        return error;
      }
    })();
    expect(isCodedError(wrong, "PUSH_SIGNING_KEY_INVALID")).toBe(true);
    expect((wrong as Error).message).toMatch(/wrong passphrase/);
  });

  it("refuses what is not such a key, and scrypt parameters that would ask for gigabytes", () => {
    const key = generateSigstoreKey(Buffer.from("p"));
    const attempts = [
      "-----BEGIN PRIVATE KEY-----\nMC4=\n-----END PRIVATE KEY-----\n",
      reencode(key.privateKey, (e) => {
        (e.kdf as { params: { N: number } }).params.N = 2 ** 30;
      }),
      reencode(key.privateKey, (e) => {
        (e.cipher as { name: string }).name = "none";
      }),
    ];
    for (const text of attempts) {
      expect(() => sigstorePublicKey(text, Buffer.from("p"), "k")).toThrow(expect.objectContaining({ code: "PUSH_SIGNING_KEY_INVALID" }));
    }
  });
});

describe("defaultSigstoreKey", () => {
  const dir = useTempDir("sigstore-key-");

  it("is made once beside the composes, secret files 0600, and the same key afterwards", async () => {
    const [first, racing] = await Promise.all([defaultSigstoreKey(dir()), defaultSigstoreKey(dir())]);
    expect(racing.publicKey).toBe(first.publicKey);
    expect(first.privateKey).toBe(join(dir(), ".deb-bootc-compose", "sigstore.key"));
    expect((await stat(first.privateKey)).mode & 0o777).toBe(0o600);
    expect((await stat(first.passphraseFile)).mode & 0o777).toBe(0o600);
    expect((await defaultSigstoreKey(dir())).publicKey).toBe(first.publicKey);
    const passphrase = await readFile(first.passphraseFile);
    expect(sigstorePublicKey(await readFile(first.privateKey, "utf8"), passphrase, "default")).toBe(first.publicKey);
    // and the key signs what its public half verifies
    const signature = createSign("sha256")
      .update("payload")
      .sign(openSigstoreKey(await readFile(first.privateKey, "utf8"), passphrase, "default"));
    expect(createVerify("sha256").update("payload").verify(first.publicKey, signature)).toBe(true);
  });
});
