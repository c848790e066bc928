import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Logger, run, silentLogger } from "@debian-bootc/core";
import { type ComposeDefinition, hostInputPath } from "../definition.js";
import { runrootCommands, runrootProfile } from "../ostree/runroot.js";
import { type ContainersTrust, dockerRepository, registriesDConfig } from "../rootfs/containers-policy.js";
import { defaultSigstoreKey, type SigstoreKeyFiles, sigstorePublicKey } from "./sigstore-key.js";

/**
 * Sigstore-signed pushes. Bookworm's skopeo (1.9) has sigstore signing and verification switched off by a
 * Debian patch ("sigstore disabled"), so the signed copy runs trixie's skopeo in a deb-mock runroot, as the
 * ostree steps run their suite's ostree: the host's skopeo version never matters.
 */

/** The Debian release whose skopeo (and cosign) sign and verify: the first with sigstore enabled. */
export const SIGNING_SUITE = "trixie";

/** The signing key for pushes: the definition's (its public half derived from it) or the output directory's default. */
export async function pushSigningKey(definition: ComposeDefinition, baseDir: string, outputDir: string): Promise<SigstoreKeyFiles> {
  const named = definition.push?.signing;
  if (!named) return defaultSigstoreKey(outputDir);
  const privateKey = await hostInputPath(definition, baseDir, "push.signing.key", named.key);
  const passphraseFile = await hostInputPath(definition, baseDir, "push.signing.passphraseFile", named.passphraseFile);
  const passphrase = (await readFile(passphraseFile)).toString("utf8").replace(/\n$/, "");
  const publicKey = sigstorePublicKey(await readFile(privateKey, "utf8"), Buffer.from(passphrase), named.key);
  return { privateKey, passphraseFile, publicKey };
}

/** What the image must trust (push.registry and the signing key's public half), or undefined without push.registry. */
export async function imageContainersTrust(
  definition: ComposeDefinition,
  baseDir: string,
  outputDir: string,
): Promise<ContainersTrust | undefined> {
  const scope = definition.push?.registry;
  if (scope === undefined) return undefined;
  return { scope, publicKey: (await pushSigningKey(definition, baseDir, outputDir)).publicKey };
}

export interface SignedCopyOptions {
  /** Pushes to a registry without TLS (a test's loopback registry). */
  insecureRegistry?: boolean;
  signal?: AbortSignal;
  logger?: Logger;
}

/** The host's Debian architecture (the runroot runs the host's own binaries). */
async function hostArch(signal?: AbortSignal): Promise<string> {
  return (await run("dpkg", ["--print-architecture"], { signal })).stdout.trim();
}

/**
 * Copy OCI layouts to docker:// destinations, each signed with the key; the signature is stored as a
 * sigstore attachment of the image in the registry (registries.d use-sigstore-attachments).
 */
export async function signedCopies(
  copies: ReadonlyArray<{ layout: string; destination: string }>,
  key: SigstoreKeyFiles,
  options: SignedCopyOptions = {},
): Promise<void> {
  if (copies.length === 0) return;
  const repositories = copies.map((c) => dockerRepository(c.destination));
  // the key, its passphrase and registries.d go in through one private directory (the runroot binds it)
  const work = await mkdtemp(join(tmpdir(), "deb-bootc-compose-sign-"));
  try {
    await chmod(work, 0o700);
    await copyFile(key.privateKey, join(work, "sigstore.key"));
    await copyFile(key.passphraseFile, join(work, "sigstore.passphrase"));
    const registriesD = [...new Set(repositories)].map((r, i) => ({ file: `registries.d/${i}.yaml`, text: registriesDConfig(r) }));
    await mkdir(join(work, "registries.d"));
    for (const { file, text } of registriesD) await writeFile(join(work, file), text);
    const tls = options.insecureRegistry ? ["--dest-tls-verify=false"] : [];
    const commands = copies.map((c, i) => [
      "skopeo",
      "copy",
      "--quiet",
      ...tls,
      "--registries.d=/sign/registries.d",
      "--sign-by-sigstore-private-key=/sign/sigstore.key",
      "--sign-passphrase-file=/sign/sigstore.passphrase",
      `oci:/layouts/${i}`,
      c.destination,
    ]);
    await runrootCommands(commands, {
      profile: runrootProfile(SIGNING_SUITE, await hostArch(options.signal)),
      packages: ["skopeo"],
      network: true,
      binds: [
        { source: work, target: "/sign", readOnly: true },
        ...copies.map((c, i) => ({ source: c.layout, target: `/layouts/${i}`, readOnly: true })),
      ],
      logger: options.logger ?? silentLogger,
      signal: options.signal,
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
