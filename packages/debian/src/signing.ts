import { readFile } from "node:fs/promises";
import { isCodedError } from "@debian-bootc/core";
import * as openpgp from "openpgp";
import { debianError } from "./errors.js";

/**
 * OpenPGP signing and verification of APT repositories, behind two small interfaces so that the same
 * repository code works with gpg (a private GNUPGHOME, as hubs keep their keys) and with openpgp.js (a key
 * held in memory, no external program). Verification has the same two faces: gpgv, the tool apt itself
 * runs, and openpgp.js. The gpg/gpgv implementations live in gpg-signing.ts.
 */

/** The two signatures an APT repository carries. */
export interface RepositorySignatures {
  /** Cleartext-signed text: the content of InRelease. */
  inline: string;
  /** ASCII-armoured detached signature over the exact bytes of the text: the content of Release.gpg. */
  detached: string;
}

export interface Signer {
  /** Fingerprint of the signing key's primary key: 40 (v4) upper-case hex digits. */
  readonly fingerprint: string;
  /** The ASCII-armoured public key (what clients put in their signed-by keyring). */
  publicKey(): string;
  /** Sign a text (a Release file): cleartext signature and detached signature over the same bytes. */
  sign(text: string): Promise<RepositorySignatures>;
  /** Release resources (gpg stops its agent); the signer is unusable afterwards. */
  close?(): Promise<void>;
}

export interface VerifiedSignature {
  /**
   * The data that was signed: for a cleartext message the signed text with a final line break (the
   * Release file inside an InRelease), for a detached signature the data given, decoded as UTF-8.
   */
  text: string;
  /** Primary-key fingerprints (upper-case hex) of the keyring keys that made a good signature. */
  fingerprints: string[];
}

export interface Verifier {
  /** Verify a cleartext-signed message (InRelease, a signed .dsc); REPO_SIGNATURE_INVALID when it does not verify. */
  verifyInline(signed: string, source?: string): Promise<VerifiedSignature>;
  /** Verify a detached signature (Release.gpg; armoured or binary) over data (Release). */
  verifyDetached(data: string | Uint8Array, signature: string | Uint8Array, source?: string): Promise<VerifiedSignature>;
}

/**
 * A keyring: armoured text (one or more `PUBLIC KEY BLOCK`s), binary OpenPGP packets (a `.gpg` keyring
 * as in /usr/share/keyrings), or `{ path }` of a file holding either.
 */
export type KeyringSource = string | Uint8Array | { path: string };

const ARMOR_BEGIN = /-----BEGIN PGP [A-Z ]+-----/;

function isArmored(data: string | Uint8Array): boolean {
  const head = typeof data === "string" ? data.slice(0, 4096) : Buffer.from(data.subarray(0, 4096)).toString("latin1");
  return ARMOR_BEGIN.test(head);
}

/** Remove ASCII armour from every block of a text and concatenate the packets. */
export async function dearmor(text: string, source = "input"): Promise<Uint8Array> {
  const blocks = text.match(/-----BEGIN PGP [A-Z ]+-----[\s\S]*?-----END PGP [A-Z ]+-----/g);
  if (!blocks) throw debianError("REPO_INVALID", `${source}: no ASCII-armoured OpenPGP block found`);
  const parts: Uint8Array[] = [];
  for (const block of blocks) {
    try {
      const { data } = await openpgp.unarmor(block);
      parts.push(await readAll(data as unknown as AsyncIterable<Uint8Array> | Uint8Array));
    } catch (error) {
      throw debianError("REPO_INVALID", `${source}: malformed ASCII armour: ${(error as Error).message}`, { cause: error });
    }
  }
  return Buffer.concat(parts);
}

async function readAll(data: AsyncIterable<Uint8Array> | Uint8Array | ReadableStream<Uint8Array>): Promise<Uint8Array> {
  if (data instanceof Uint8Array) return data;
  const chunks: Uint8Array[] = [];
  if (typeof (data as ReadableStream<Uint8Array>).getReader === "function") {
    const reader = (data as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
  } else for await (const chunk of data as AsyncIterable<Uint8Array>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** The keyring as binary OpenPGP packets (what gpgv's --keyring wants). */
export async function loadKeyring(keyring: KeyringSource): Promise<Uint8Array> {
  let data: string | Uint8Array;
  let source = "keyring";
  if (typeof keyring === "object" && !(keyring instanceof Uint8Array)) {
    source = keyring.path;
    try {
      data = await readFile(keyring.path);
    } catch (error) {
      throw debianError("REPO_SIGNATURE_INVALID", `cannot read keyring ${keyring.path}: ${(error as Error).message}`, { cause: error });
    }
  } else data = keyring;
  if (isArmored(data)) return dearmor(typeof data === "string" ? data : Buffer.from(data).toString("utf8"), source);
  if (typeof data === "string") {
    throw debianError("REPO_SIGNATURE_INVALID", "keyring text is not ASCII-armoured (give { path } for a keyring file)");
  }
  if (data.length === 0) throw debianError("REPO_SIGNATURE_INVALID", `${source}: keyring is empty`);
  return data;
}

/** Drop a trailing line break: the cleartext framework does not sign the line break before the signature. */
function withoutFinalNewline(text: string): string {
  return text.endsWith("\n") ? text.slice(0, -1) : text;
}

/** Reject anything outside the armour of a cleartext message, as apt does, so that what was verified is all there is. */
export function assertOnlySignedContent(signed: string, source: string): void {
  const begin = signed.indexOf("-----BEGIN PGP SIGNED MESSAGE-----");
  const endMarker = "-----END PGP SIGNATURE-----";
  const end = signed.lastIndexOf(endMarker);
  if (begin === -1 || end === -1) {
    throw debianError("REPO_SIGNATURE_INVALID", `${source}: not an OpenPGP cleartext-signed message`);
  }
  if (signed.slice(0, begin).trim() !== "" || signed.slice(end + endMarker.length).trim() !== "") {
    throw debianError("REPO_SIGNATURE_INVALID", `${source}: text outside the signed message (before its BEGIN or after its END line)`);
  }
  if (signed.indexOf("-----BEGIN PGP SIGNED MESSAGE-----", begin + 1) !== -1) {
    throw debianError("REPO_SIGNATURE_INVALID", `${source}: more than one signed message in one file`);
  }
}

// ---------------------------------------------------------------------------------------------------
// openpgp.js

export interface GeneratedKey {
  /** ASCII-armoured secret key (unprotected unless a passphrase was given). */
  privateKey: string;
  publicKey: string;
  fingerprint: string;
}

export interface GenerateKeyOptions {
  name: string;
  email: string;
  /** Key type: Ed25519 (default; gpg ≥ 2.1 and apt read it) or RSA 3072/4096. */
  type?: "ed25519" | "rsa3072" | "rsa4096";
  passphrase?: string;
  /** Creation time (for reproducible tests); default now. */
  date?: Date;
  /** Seconds until the key expires; default never. */
  expiresInSeconds?: number;
}

/** Generate a v4 signing key with openpgp.js (v4 so that gpg 2.2 and apt's gpgv can use it). */
export async function generateOpenPgpKey(options: GenerateKeyOptions): Promise<GeneratedKey> {
  const type = options.type ?? "ed25519";
  const algo =
    type === "ed25519"
      ? ({ type: "ecc", curve: "ed25519Legacy" } as const)
      : ({ type: "rsa", rsaBits: type === "rsa3072" ? 3072 : 4096 } as const);
  const { privateKey, publicKey } = await openpgp.generateKey({
    ...algo,
    userIDs: [{ name: options.name, email: options.email }],
    ...(options.passphrase === undefined ? {} : { passphrase: options.passphrase }),
    ...(options.date === undefined ? {} : { date: options.date }),
    keyExpirationTime: options.expiresInSeconds ?? 0,
    format: "armored",
    config: { v6Keys: false },
  });
  const key = await openpgp.readKey({ armoredKey: publicKey });
  return { privateKey, publicKey, fingerprint: key.getFingerprint().toUpperCase() };
}

export interface OpenPgpSignerOptions {
  /** ASCII-armoured (or binary) secret key. */
  privateKey: string | Uint8Array;
  passphrase?: string;
  /** Signature creation time (for reproducible tests); default now. */
  date?: Date;
}

/** A signer that holds the key in memory and needs no external program. */
export async function createOpenPgpSigner(options: OpenPgpSignerOptions): Promise<Signer> {
  let key: openpgp.PrivateKey;
  try {
    key =
      typeof options.privateKey === "string"
        ? await openpgp.readPrivateKey({ armoredKey: options.privateKey })
        : await openpgp.readPrivateKey({ binaryKey: options.privateKey });
    if (!key.isDecrypted()) {
      if (options.passphrase === undefined) throw new Error("the key is protected by a passphrase and none was given");
      key = await openpgp.decryptKey({ privateKey: key, passphrase: options.passphrase });
    }
    await key.getSigningKey(undefined, options.date ?? new Date()); // refuses expired and revoked keys
  } catch (error) {
    throw debianError("SIGNING_FAILED", `cannot use the OpenPGP secret key: ${(error as Error).message}`, { cause: error });
  }
  const publicKey = key.toPublic().armor();
  const fingerprint = key.getFingerprint().toUpperCase();
  return {
    fingerprint,
    publicKey: () => publicKey,
    async sign(text) {
      try {
        const date = options.date;
        const armored = await openpgp.sign({
          message: await openpgp.createCleartextMessage({ text: withoutFinalNewline(text) }),
          signingKeys: key,
          format: "armored",
          ...(date === undefined ? {} : { date }),
        });
        // openpgp.js writes the cleartext part with CRLF line ends; the signature covers canonical (CRLF)
        // text either way, so plain LF keeps the InRelease byte-compatible with gpg's and verifies the same
        const inline = armored.replace(/\r\n/g, "\n");
        const detached = await openpgp.sign({
          message: await openpgp.createMessage({ binary: Buffer.from(text, "utf8") }),
          signingKeys: key,
          detached: true,
          format: "armored",
          ...(date === undefined ? {} : { date }),
        });
        return { inline, detached };
      } catch (error) {
        throw debianError("SIGNING_FAILED", `openpgp.js could not sign: ${(error as Error).message}`, { cause: error });
      }
    },
  };
}

export interface OpenPgpVerifierOptions {
  /** Verify as of this time (key expiry, signature creation); default now. */
  date?: Date;
}

/** A verifier that checks signatures with openpgp.js against a keyring. */
export async function createOpenPgpVerifier(keyring: KeyringSource, options: OpenPgpVerifierOptions = {}): Promise<Verifier> {
  const binary = await loadKeyring(keyring);
  let keys: openpgp.Key[];
  try {
    keys = await openpgp.readKeys({ binaryKeys: binary });
  } catch (error) {
    throw debianError("REPO_SIGNATURE_INVALID", `cannot read the keyring: ${(error as Error).message}`, { cause: error });
  }
  const publicKeys = keys.map((k) => (k.isPrivate() ? k.toPublic() : k)) as openpgp.PublicKey[];
  // without a fixed date, openpgp.js checks against the time of each verification (verifiers live long in a hub)
  const at = options.date === undefined ? {} : { date: options.date };

  const check = async (signatures: Array<{ keyID: openpgp.KeyID; verified: Promise<true> }>, source: string): Promise<string[]> => {
    const good: string[] = [];
    const problems: string[] = [];
    for (const signature of signatures) {
      const owner = publicKeys.find((k) => k.getKeys(signature.keyID).length > 0);
      try {
        await signature.verified;
        if (owner) {
          // openpgp.js accepts a signature made while the key was valid; apt (gpgv's EXPKEYSIG/REVKEYSIG)
          // wants the key valid now, or at the verifier's fixed date
          try {
            await owner.getSigningKey(signature.keyID, options.date ?? new Date());
          } catch (error) {
            throw debianError(
              "REPO_SIGNATURE_INVALID",
              `${source}: signed by ${owner.getFingerprint().toUpperCase()}, which is expired or revoked: ${(error as Error).message}`,
              { cause: error, hint: "renew the key's expiry or re-sign with a valid key" },
            );
          }
          good.push(owner.getFingerprint().toUpperCase());
        }
      } catch (error) {
        if (isCodedError(error)) throw error;
        // a signature by a key we do not hold is not an error (the archive signs with several keys);
        // a bad signature by a key we hold is, as for apt
        const keyId = signature.keyID.toHex().toUpperCase();
        if (owner) {
          throw debianError("REPO_SIGNATURE_INVALID", `${source}: bad signature by ${keyId}: ${(error as Error).message}`, {
            cause: error,
          });
        }
        problems.push(`${keyId}: no public key in the keyring`);
      }
    }
    if (good.length === 0) {
      throw debianError(
        "REPO_SIGNATURE_INVALID",
        `${source}: no good signature by a key in the keyring (${problems.join("; ") || "not signed"})`,
        {
          hint: "check that the keyring holds the repository's signing key",
        },
      );
    }
    return [...new Set(good)];
  };

  return {
    async verifyInline(signed, source = "signed message") {
      assertOnlySignedContent(signed, source);
      let message: openpgp.CleartextMessage;
      try {
        message = await openpgp.readCleartextMessage({ cleartextMessage: signed });
      } catch (error) {
        throw debianError("REPO_SIGNATURE_INVALID", `${source}: malformed cleartext signature: ${(error as Error).message}`, {
          cause: error,
        });
      }
      let result: openpgp.VerifyMessageResult<string>;
      try {
        result = await openpgp.verify({ message, verificationKeys: publicKeys, ...at });
      } catch (error) {
        throw debianError("REPO_SIGNATURE_INVALID", `${source}: ${(error as Error).message}`, { cause: error });
      }
      const fingerprints = await check(result.signatures, source);
      return { text: `${message.getText()}\n`, fingerprints };
    },

    async verifyDetached(data, signature, source = "detached signature") {
      const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      let parsed: openpgp.Signature;
      try {
        parsed = isArmored(signature)
          ? await openpgp.readSignature({
              armoredSignature: typeof signature === "string" ? signature : Buffer.from(signature).toString("utf8"),
            })
          : await openpgp.readSignature({ binarySignature: signature as Uint8Array });
      } catch (error) {
        throw debianError("REPO_SIGNATURE_INVALID", `${source}: malformed signature: ${(error as Error).message}`, { cause: error });
      }
      let result: openpgp.VerifyMessageResult;
      try {
        result = await openpgp.verify({
          message: await openpgp.createMessage({ binary: bytes }),
          signature: parsed,
          verificationKeys: publicKeys,
          format: "binary",
          ...at,
        });
      } catch (error) {
        throw debianError("REPO_SIGNATURE_INVALID", `${source}: ${(error as Error).message}`, { cause: error });
      }
      const fingerprints = await check(result.signatures, source);
      return { text: Buffer.from(bytes).toString("utf8"), fingerprints };
    },
  };
}
