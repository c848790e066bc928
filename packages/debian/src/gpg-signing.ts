import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCodedError, type Logger, run } from "@debian-bootc/core";
import { debianError } from "./errors.js";
import {
  assertOnlySignedContent,
  type GenerateKeyOptions,
  type KeyringSource,
  loadKeyring,
  type Signer,
  type VerifiedSignature,
  type Verifier,
} from "./signing.js";

/**
 * gpg and gpgv implementations of the signing interfaces. gpg always runs against a private home
 * directory (never the user's ~/.gnupg), in batch mode with loopback pinentry, so it never prompts.
 */

const GPG_PACKAGE = "gpg";
const GPGV_PACKAGE = "gpgv";
const TIMEOUT_MS = 120_000;

function gpgArgs(home: string): string[] {
  return ["--homedir", home, "--batch", "--no-tty", "--no-auto-key-locate", "--pinentry-mode", "loopback"];
}

/** Create a private GNUPGHOME (mode 0700), or fix the mode of an existing one. */
export async function createGpgHome(path?: string): Promise<string> {
  const home = path ?? (await mkdtemp(join(tmpdir(), "gnupg-")));
  await mkdir(home, { recursive: true, mode: 0o700 });
  await chmod(home, 0o700);
  return home;
}

/** Stop the gpg-agent that gpg started for a home directory (agents outlive the gpg that started them). */
export async function stopGpgAgent(home: string, logger?: Logger): Promise<void> {
  try {
    await run("gpgconf", ["--homedir", home, "--kill", "gpg-agent"], { logger, timeoutMs: 30_000, debianPackage: GPG_PACKAGE });
  } catch {
    // no agent running, or gpgconf missing: nothing to stop
  }
}

interface SecretKeyInfo {
  fingerprint: string;
  userIds: string[];
  canSign: boolean;
}

async function listSecretKeys(home: string, selector: string | undefined, logger?: Logger): Promise<SecretKeyInfo[]> {
  const result = await run(
    "gpg",
    [...gpgArgs(home), "--with-colons", "--fixed-list-mode", "--list-secret-keys", ...(selector ? [selector] : [])],
    {
      logger,
      timeoutMs: TIMEOUT_MS,
      debianPackage: GPG_PACKAGE,
      okCodes: [2], // "no secret key" when nothing matches
    },
  );
  const keys: SecretKeyInfo[] = [];
  let current: SecretKeyInfo | undefined;
  let expectPrimaryFpr = false;
  for (const line of result.stdout.split("\n")) {
    const fields = line.split(":");
    if (fields[0] === "sec") {
      // field 2: validity (r = revoked, e = expired); field 12: capabilities of the whole key
      const validity = fields[1] ?? "";
      current = { fingerprint: "", userIds: [], canSign: /S/.test(fields[11] ?? "") && !/[re]/.test(validity) };
      keys.push(current);
      expectPrimaryFpr = true;
    } else if (fields[0] === "fpr" && current && expectPrimaryFpr) {
      current.fingerprint = (fields[9] ?? "").toUpperCase();
      expectPrimaryFpr = false;
    } else if (fields[0] === "uid" && current) {
      current.userIds.push(fields[9] ?? "");
    } else if (fields[0] === "ssb") expectPrimaryFpr = false;
  }
  return keys.filter((k) => k.fingerprint !== "");
}

export interface GpgKeyOptions extends Omit<GenerateKeyOptions, "date"> {
  /** The private GNUPGHOME to create the key in. */
  home: string;
  logger?: Logger;
}

/** Generate a signing key in a private GNUPGHOME with gpg; returns its fingerprint. */
export async function generateGpgKey(options: GpgKeyOptions): Promise<string> {
  const home = await createGpgHome(options.home);
  const algo = options.type === "rsa3072" ? "rsa3072" : options.type === "rsa4096" ? "rsa4096" : "ed25519";
  const expire = options.expiresInSeconds === undefined ? "never" : `seconds=${options.expiresInSeconds}`;
  const userId = `${options.name} <${options.email}>`;
  const passphraseArgs = options.passphrase === undefined ? ["--passphrase", ""] : ["--passphrase-fd", "0"];
  try {
    await run("gpg", [...gpgArgs(home), ...passphraseArgs, "--quick-generate-key", userId, algo, "sign", expire], {
      logger: options.logger,
      timeoutMs: TIMEOUT_MS,
      debianPackage: GPG_PACKAGE,
      ...(options.passphrase === undefined ? {} : { input: `${options.passphrase}\n` }),
    });
  } catch (error) {
    throw debianError("SIGNING_FAILED", `gpg could not generate a key for ${userId} in ${home}`, { cause: error });
  }
  const keys = await listSecretKeys(home, `=${userId}`, options.logger);
  await stopGpgAgent(home, options.logger); // a signer starts its own when it needs one
  const key = keys.at(-1);
  if (!key) throw debianError("SIGNING_FAILED", `gpg generated no key for ${userId} in ${home}`);
  return key.fingerprint;
}

/** Import an ASCII-armoured secret key into a private GNUPGHOME; returns the fingerprints imported. */
export async function importGpgSecretKey(
  home: string,
  armoredKey: string,
  options: { passphrase?: string; logger?: Logger } = {},
): Promise<string[]> {
  await createGpgHome(home);
  const dir = await mkdtemp(join(tmpdir(), "gpg-import-"));
  try {
    const keyFile = join(dir, "key.asc");
    await writeFile(keyFile, armoredKey, { mode: 0o600 });
    const passphraseArgs = options.passphrase === undefined ? [] : ["--passphrase-fd", "0"];
    const result = await run("gpg", [...gpgArgs(home), ...passphraseArgs, "--status-fd", "1", "--import", keyFile], {
      logger: options.logger,
      timeoutMs: TIMEOUT_MS,
      debianPackage: GPG_PACKAGE,
      ...(options.passphrase === undefined ? {} : { input: `${options.passphrase}\n` }),
    });
    const fprs = [...result.stdout.matchAll(/^\[GNUPG:\] IMPORT_OK \d+ ([0-9A-F]+)/gm)].map((m) => m[1]!);
    return [...new Set(fprs)];
  } catch (error) {
    if (isCodedError(error) && error.code === "SIGNING_FAILED") throw error;
    throw debianError("SIGNING_FAILED", `gpg could not import the secret key into ${home}`, { cause: error });
  } finally {
    await rm(dir, { recursive: true, force: true });
    await stopGpgAgent(home, options.logger);
  }
}

export interface GpgSignerOptions {
  /** The private GNUPGHOME that holds the secret key. */
  home: string;
  /** Which key: a fingerprint, key id or user id; default the only signing key in the home. */
  key?: string;
  passphrase?: string;
  /** Digest for the signatures; default SHA512 (apt rejects SHA1). */
  digest?: "SHA256" | "SHA384" | "SHA512";
  logger?: Logger;
}

/** A signer backed by gpg and a private GNUPGHOME. Call close() to stop the gpg-agent it started. */
export async function createGpgSigner(options: GpgSignerOptions): Promise<Signer> {
  try {
    return await openGpgSigner(options);
  } catch (error) {
    await stopGpgAgent(options.home, options.logger);
    throw error;
  }
}

async function openGpgSigner(options: GpgSignerOptions): Promise<Signer> {
  const { home, logger } = options;
  const keys = (await listSecretKeys(home, options.key, logger)).filter((k) => k.canSign);
  if (keys.length === 0) {
    throw debianError("SIGNING_FAILED", `no usable signing key${options.key ? ` matching ${options.key}` : ""} in ${home}`, {
      hint: "generate one with generateGpgKey() or import one with importGpgSecretKey()",
    });
  }
  if (keys.length > 1) {
    throw debianError("SIGNING_FAILED", `${keys.length} signing keys in ${home}; say which one to use (key: fingerprint)`, {
      details: { fingerprints: keys.map((k) => k.fingerprint) },
    });
  }
  const fingerprint = keys[0]!.fingerprint;
  const exported = await run("gpg", [...gpgArgs(home), "--armor", "--export-options", "export-minimal", "--export", fingerprint], {
    logger,
    timeoutMs: TIMEOUT_MS,
    debianPackage: GPG_PACKAGE,
  });
  const publicKey = exported.stdout;
  const digest = options.digest ?? "SHA512";
  const passphraseArgs = options.passphrase === undefined ? [] : ["--passphrase-fd", "0"];
  const input = options.passphrase === undefined ? {} : { input: `${options.passphrase}\n` };

  return {
    fingerprint,
    publicKey: () => publicKey,
    async sign(text) {
      const dir = await mkdtemp(join(tmpdir(), "gpg-sign-"));
      try {
        const file = join(dir, "Release");
        await writeFile(file, text);
        const common = [...gpgArgs(home), ...passphraseArgs, "--yes", "--local-user", `${fingerprint}!`, "--digest-algo", digest];
        await run("gpg", [...common, "--clearsign", "--output", join(dir, "InRelease"), file], {
          logger,
          timeoutMs: TIMEOUT_MS,
          debianPackage: GPG_PACKAGE,
          ...input,
        });
        await run("gpg", [...common, "--armor", "--detach-sign", "--output", join(dir, "Release.gpg"), file], {
          logger,
          timeoutMs: TIMEOUT_MS,
          debianPackage: GPG_PACKAGE,
          ...input,
        });
        return {
          inline: await readFile(join(dir, "InRelease"), "utf8"),
          detached: await readFile(join(dir, "Release.gpg"), "utf8"),
        };
      } catch (error) {
        throw debianError("SIGNING_FAILED", `gpg could not sign with ${fingerprint} (home ${home})`, { cause: error });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    close: () => stopGpgAgent(home, logger),
  };
}

/** What gpgv's status lines say about a signature check. */
export interface GpgvStatus {
  /** Primary-key fingerprints of VALIDSIG lines. */
  valid: string[];
  /** Key ids of BADSIG lines. */
  bad: string[];
  /** Key ids that signed but are not in the keyring (ERRSIG ... 9 / NO_PUBKEY). */
  missing: string[];
  /** Anything else that makes a signature unusable (EXPKEYSIG, REVKEYSIG, ERRSIG with another reason). */
  other: string[];
}

export function parseGpgvStatus(statusText: string): GpgvStatus {
  const status: GpgvStatus = { valid: [], bad: [], missing: [], other: [] };
  // one block per signature, opened by NEWSIG; a signature is good only with GOODSIG *and* VALIDSIG, as for
  // apt: an expired or revoked key gives EXPKEYSIG/REVKEYSIG instead of GOODSIG, with a VALIDSIG all the same
  let good = false;
  let validFpr: string | undefined;
  const closeBlock = () => {
    if (good && validFpr) status.valid.push(validFpr);
    good = false;
    validFpr = undefined;
  };
  for (const line of statusText.split("\n")) {
    const m = /^\[GNUPG:\] (\S+)(?: (.*))?$/.exec(line.trim());
    if (!m) continue;
    const args = (m[2] ?? "").split(" ");
    switch (m[1]) {
      case "NEWSIG":
        closeBlock();
        break;
      case "GOODSIG":
        good = true;
        break;
      case "VALIDSIG":
        // VALIDSIG <fpr> <date> <ts> <expire> <version> <reserved> <pk-algo> <hash-algo> <class> <primary-fpr>
        validFpr = (args[9] ?? args[0] ?? "").toUpperCase();
        break;
      case "BADSIG":
        status.bad.push(args[0] ?? "");
        break;
      case "NO_PUBKEY":
        status.missing.push(args[0] ?? "");
        break;
      case "ERRSIG":
        if (args[5] !== "9") status.other.push(`ERRSIG ${args.join(" ")}`);
        break;
      case "EXPKEYSIG":
      case "REVKEYSIG":
      case "EXPSIG":
        status.other.push(`${m[1]} ${args.join(" ")}`);
        break;
    }
  }
  closeBlock();
  status.valid = [...new Set(status.valid)];
  return status;
}

/** A verifier that runs gpgv, the program apt itself uses, against a keyring. */
export async function createGpgvVerifier(keyring: KeyringSource, options: { logger?: Logger } = {}): Promise<Verifier> {
  const binary = await loadKeyring(keyring);
  const { logger } = options;

  /** Run gpgv in a fresh temporary directory holding the keyring and the files; the directory is removed afterwards. */
  const withGpgv = async <T>(
    files: Record<string, string | Uint8Array>,
    args: (dir: string) => string[],
    source: string,
    then: (dir: string, status: GpgvStatus) => Promise<T>,
  ): Promise<T> => {
    const dir = await mkdtemp(join(tmpdir(), "gpgv-"));
    try {
      await writeFile(join(dir, "keyring.gpg"), binary);
      for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data);
      const result = await run("gpgv", ["--status-fd", "1", "--keyring", join(dir, "keyring.gpg"), ...args(dir)], {
        logger,
        timeoutMs: TIMEOUT_MS,
        debianPackage: GPGV_PACKAGE,
        okCodes: [1, 2],
        // gpgv needs a home directory; never the user's
        env: { ...process.env, GNUPGHOME: dir },
      });
      const status = parseGpgvStatus(result.stdout);
      if (status.bad.length > 0) {
        throw debianError("REPO_SIGNATURE_INVALID", `${source}: BAD signature by ${status.bad.join(", ")}`, { details: { source } });
      }
      // gpgv exits non-zero when any signature cannot be checked (the archive signs with several keys and a
      // keyring may hold only one): as for apt, one good signature and no bad one is enough
      if (status.valid.length === 0) {
        const reasons = [...status.other, ...status.missing.map((k) => `no public key for ${k} in the keyring`)];
        if (reasons.length === 0) reasons.push(result.stderr.trim().split("\n").at(-1) ?? "not signed");
        throw debianError("REPO_SIGNATURE_INVALID", `${source}: no good signature by a key in the keyring (${reasons.join("; ")})`, {
          hint: "check that the keyring holds the repository's signing key",
          details: { source },
        });
      }
      return await then(dir, status);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  return {
    async verifyInline(signed, source = "signed message"): Promise<VerifiedSignature> {
      assertOnlySignedContent(signed, source);
      return withGpgv(
        { "message.asc": signed },
        (d) => ["--output", join(d, "message.txt"), join(d, "message.asc")],
        source,
        // gpgv writes the text as the message has it; a message with CRLF line ends gives CRLF text
        async (dir, status) => ({
          text: (await readFile(join(dir, "message.txt"), "utf8")).replace(/\r\n/g, "\n"),
          fingerprints: status.valid,
        }),
      );
    },
    async verifyDetached(data, signature, source = "detached signature"): Promise<VerifiedSignature> {
      const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      return withGpgv(
        { data: bytes, "data.sig": signature },
        (d) => [join(d, "data.sig"), join(d, "data")],
        source,
        async (_dir, status) => ({ text: Buffer.from(bytes).toString("utf8"), fingerprints: status.valid }),
      );
    },
  };
}
