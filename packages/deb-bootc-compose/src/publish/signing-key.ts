import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { createOpenPgpSigner, generateOpenPgpKey } from "@debian-bootc/debian";
import { type ComposeDefinition, hostInputPath } from "../definition.js";
import { composeError } from "../errors.js";

/**
 * The key that signs a channel's commits and summaries. The definition names one (updates.key, an
 * ASCII-armoured secret key); otherwise the embedded default is made on first use, as the hub makes its
 * APT key, in the data directory ($XDG_DATA_HOME/deb-bootc-compose/keys, mode 0600): never in a compose
 * directory, which is published and thrown away.
 */

export interface UpdateSigningKey {
  /** The secret key's file. */
  path: string;
  privateKey: string;
  publicKey: string;
  fingerprint: string;
}

/** The public half of the update key: what an image trusts, and all a builder is given of it. */
export type PublicUpdateKey = Pick<UpdateSigningKey, "publicKey" | "fingerprint">;

/** deb-bootc-compose's data directory: $XDG_DATA_HOME/deb-bootc-compose (~/.local/share by default). */
export function composeDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_DATA_HOME?.startsWith("/") ? env.XDG_DATA_HOME : join(env.HOME ?? homedir(), ".local", "share");
  return join(xdg, "deb-bootc-compose");
}

/** Where the embedded default key lives. */
export function defaultUpdateKeyPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(composeDataDir(env), "keys", "updates-signing-key.asc");
}

async function readKeyFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** The default key, made when missing (a concurrent first use keeps whichever was written first). */
async function defaultKey(env: NodeJS.ProcessEnv): Promise<{ path: string; armored: string }> {
  const path = defaultUpdateKeyPath(env);
  const existing = await readKeyFile(path);
  if (existing !== undefined) return { path, armored: existing };
  await mkdir(join(path, ".."), { recursive: true, mode: 0o700 });
  const key = await generateOpenPgpKey({ name: "deb-bootc-compose update signing key", email: "updates@deb-bootc-compose.invalid" });
  try {
    await writeFile(path, key.privateKey, { flag: "wx", mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return { path, armored: (await readKeyFile(path)) ?? key.privateKey };
    throw error;
  }
  await chmod(path, 0o600);
  return { path, armored: key.privateKey };
}

/** Read (or, for the default, make) the signing key of a definition's update channel. */
export async function updateSigningKey(
  definition: ComposeDefinition,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<UpdateSigningKey> {
  const named = definition.updates?.key;
  let path: string;
  let armored: string | undefined;
  if (named === undefined) ({ path, armored } = await defaultKey(env));
  else {
    path = await hostInputPath(definition, baseDir, "updates.key", named);
    armored = await readKeyFile(path);
    if (armored === undefined)
      throw composeError("UPDATE_KEY_INVALID", `updates.key: ${path} does not exist`, {
        hint: "name an ASCII-armoured OpenPGP secret key (gpg --armor --export-secret-keys), or leave updates.key out for the default key",
      });
  }
  try {
    const signer = await createOpenPgpSigner({ privateKey: armored });
    return { path, privateKey: armored, publicKey: signer.publicKey(), fingerprint: signer.fingerprint };
  } catch (error) {
    throw composeError("UPDATE_KEY_INVALID", `${path}: not a usable OpenPGP secret key without passphrase: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
