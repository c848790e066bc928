import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createOpenPgpSigner, generateOpenPgpKey, type Signer, writeAptRepository } from "@debian-bootc/debian";
import { orchestratorError } from "../errors.js";
import type { RepoPublisher, RepoPublishRequest, RepoPublishResult } from "./publisher.js";

/**
 * The hub's repository signing key: `<dataDir>/signing-key.asc` (secret, mode 0600), made on first use
 * with openpgp.js (Ed25519, v4 so apt's gpgv reads it); the public half is served at /repos/key.asc.
 */
export async function loadOrCreateSigningKey(dataDir: string): Promise<{ privateKey: string; publicKey: string }> {
  const secretPath = join(dataDir, "signing-key.asc");
  const publicPath = join(dataDir, "signing-key.pub.asc");
  try {
    return { privateKey: await readFile(secretPath, "utf8"), publicKey: await readFile(publicPath, "utf8") };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(dataDir, { recursive: true });
  const key = await generateOpenPgpKey({ name: "deb-orchestrator hub", email: "hub@localhost" });
  await writeFile(publicPath, key.publicKey);
  await writeFile(secretPath, key.privateKey, { mode: 0o600 });
  await chmod(secretPath, 0o600);
  return { privateKey: key.privateKey, publicKey: key.publicKey };
}

/** Writes and signs a real APT repository (Packages, Release, InRelease, Release.gpg) with the debian package. */
export class DebianRepoPublisher implements RepoPublisher {
  private constructor(
    private readonly signer: Signer | undefined,
    private readonly key: string | undefined,
  ) {}

  static async forDataDir(dataDir: string, options: { sign?: boolean } = {}): Promise<DebianRepoPublisher> {
    if (options.sign === false) return new DebianRepoPublisher(undefined, undefined);
    const key = await loadOrCreateSigningKey(dataDir);
    return new DebianRepoPublisher(await createOpenPgpSigner({ privateKey: key.privateKey }), key.publicKey);
  }

  async publish(request: RepoPublishRequest): Promise<RepoPublishResult> {
    try {
      const written = await writeAptRepository({
        root: request.dir,
        suite: request.suite,
        codename: request.suite,
        origin: "deb-orchestrator",
        label: request.tag,
        version: String(request.number),
        description: `deb-orchestrator tag ${request.tag}, repository ${request.number}`,
        architectures: request.arches,
        components: ["main"],
        debs: request.files.map((f) => f.path),
        ...(this.signer ? { signer: this.signer } : {}),
      });
      return { signed: this.signer !== undefined, packages: written.packages };
    } catch (error) {
      throw orchestratorError("PUBLISH_FAILED", `writing the APT repository of ${request.tag}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  async publicKey(): Promise<string | undefined> {
    return this.key;
  }
}
