import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, scryptSync } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { secretbox } from "@noble/ciphers/salsa.js";
import { composeError } from "../errors.js";

/**
 * Sigstore signing keys in the format skopeo (--sign-by-sigstore-private-key) and cosign read: an
 * ECDSA P-256 PKCS#8 key encrypted as go-securesystemslib's `encrypted` package does it (scrypt
 * N=32768 r=8 p=1, then NaCl secretbox), in a PEM block. skopeo 1.9 (bookworm) signs with such a key
 * but cannot make one (`skopeo generate-sigstore-key` came in 1.10), so the compose makes its own.
 */

/** The PEM type skopeo 1.9 and cosign 2 both accept (cosign's own; "ENCRYPTED SIGSTORE PRIVATE KEY" is newer). */
const PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY";
const SCRYPT = { N: 32768, r: 8, p: 1 };

function pem(type: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join("\n")}\n-----END ${type}-----\n`;
}

function scryptKey(passphrase: Buffer, salt: Buffer, params: { N: number; r: number; p: number }): Uint8Array {
  return scryptSync(passphrase, salt, 32, { ...params, maxmem: 256 * params.N * params.r });
}

/** An encrypted private key (PEM) and its public half (PKIX PEM, what policy.json's keyPath and cosign verify --key read). */
export function generateSigstoreKey(passphrase: Buffer): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const sealed = secretbox(scryptKey(passphrase, salt, SCRYPT), nonce).seal(privateKey.export({ type: "pkcs8", format: "der" }));
  const envelope = {
    kdf: { name: "scrypt", params: SCRYPT, salt: salt.toString("base64") },
    cipher: { name: "nacl/secretbox", nonce: nonce.toString("base64") },
    ciphertext: Buffer.from(sealed).toString("base64"),
  };
  return { privateKey: pem(PEM_TYPE, Buffer.from(JSON.stringify(envelope))), publicKey: publicKeyPem(publicKey) };
}

function publicKeyPem(key: KeyObject): string {
  return key.export({ type: "spki", format: "pem" }).toString();
}

/** The public half of an encrypted sigstore private key (so a definition names one file, not two that could disagree). */
export function sigstorePublicKey(privateKeyPem: string, passphrase: Buffer, source: string): string {
  return publicKeyPem(createPublicKey(openSigstoreKey(privateKeyPem, passphrase, source)));
}

/** The private key inside an encrypted sigstore key file; `source` names it in errors. */
export function openSigstoreKey(privateKeyPem: string, passphrase: Buffer, source: string): KeyObject {
  const invalid = (why: string, cause?: unknown): never => {
    throw composeError("PUSH_SIGNING_KEY_INVALID", `${source}: ${why}`, {
      hint: "give an encrypted sigstore private key (skopeo generate-sigstore-key, cosign generate-key-pair) and its passphrase file",
      ...(cause ? { cause } : {}),
    });
  };
  const block = /^-----BEGIN (ENCRYPTED (?:COSIGN|SIGSTORE) PRIVATE KEY)-----\n([A-Za-z0-9+/=\n]+)-----END \1-----\s*$/.exec(privateKeyPem);
  if (!block) return invalid("not an encrypted sigstore private key (PEM ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY)");
  let envelope: {
    kdf?: { name?: string; params?: { N?: number; r?: number; p?: number }; salt?: string };
    cipher?: { name?: string; nonce?: string };
    ciphertext?: string;
  };
  try {
    envelope = JSON.parse(Buffer.from(block[2]!, "base64").toString("utf8"));
  } catch (error) {
    return invalid("the key's PEM block is not the encrypted-key JSON", error);
  }
  const { kdf, cipher, ciphertext } = envelope;
  const params = kdf?.params;
  if (kdf?.name !== "scrypt" || cipher?.name !== "nacl/secretbox" || !kdf.salt || !cipher.nonce || !ciphertext || !params) {
    return invalid("expected scrypt and nacl/secretbox encryption");
  }
  const { N, r, p } = params;
  // bounds keep a hostile file from asking scrypt for gigabytes
  if (!Number.isInteger(N) || !Number.isInteger(r) || !Number.isInteger(p) || N! < 2 || N! > 2 ** 20 || r! > 32 || p! > 16) {
    return invalid(`scrypt parameters out of range (N=${N}, r=${r}, p=${p})`);
  }
  let der: Uint8Array;
  try {
    const key = scryptKey(passphrase, Buffer.from(kdf.salt, "base64"), { N: N!, r: r!, p: p! });
    der = secretbox(key, Buffer.from(cipher.nonce, "base64")).open(Buffer.from(ciphertext, "base64"));
  } catch (error) {
    return invalid("cannot decrypt it with the passphrase (wrong passphrase or damaged key)", error);
  }
  try {
    return createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
  } catch (error) {
    return invalid("the decrypted key is not a PKCS#8 private key", error);
  }
}

export interface SigstoreKeyFiles {
  privateKey: string;
  passphraseFile: string;
  /** The public key, PEM. */
  publicKey: string;
}

/**
 * The default signing key of an output directory, beside the snapshot key:
 * <output>/.deb-bootc-compose/sigstore.key (0600) with sigstore.passphrase (0600) and sigstore.pub,
 * made on first use and kept, so every compose of that directory is signed by the same key.
 */
export async function defaultSigstoreKey(outputDir: string): Promise<SigstoreKeyFiles> {
  const dir = join(outputDir, ".deb-bootc-compose");
  const files = {
    privateKey: join(dir, "sigstore.key"),
    passphraseFile: join(dir, "sigstore.passphrase"),
    publicKey: join(dir, "sigstore.pub"),
  };
  const existing = async () => ({ ...files, publicKey: await readFile(files.publicKey, "utf8") });
  try {
    return await existing();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const passphrase = randomBytes(24).toString("base64url");
  const key = generateSigstoreKey(Buffer.from(passphrase));
  try {
    // the private key first and exclusively: whoever makes it writes the other two
    await writeFile(files.privateKey, key.privateKey, { flag: "wx", mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return await waitForPublicKey(existing);
    throw error;
  }
  await chmod(files.privateKey, 0o600);
  await writeFile(files.passphraseFile, passphrase, { mode: 0o600 });
  await chmod(files.passphraseFile, 0o600);
  await writeFile(`${files.publicKey}.tmp`, key.publicKey, { mode: 0o644 });
  await rename(`${files.publicKey}.tmp`, files.publicKey);
  return { ...files, publicKey: key.publicKey };
}

/** Another compose is writing the key at this moment: its public key is the last file it writes. */
async function waitForPublicKey(read: () => Promise<SigstoreKeyFiles>): Promise<SigstoreKeyFiles> {
  for (let i = 0; ; i++) {
    try {
      return await read();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || i >= 100) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
