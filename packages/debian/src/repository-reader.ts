import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { isCodedError } from "@debian-bootc/core";
import { iterateDeb822, type Paragraph } from "./deb822.js";
import { type Compression, decompress } from "./decompress.js";
import { debianError } from "./errors.js";
import { createGpgvVerifier } from "./gpg-signing.js";
import { parseRelease, type ReleaseFile, type ReleaseFileEntry } from "./release-file.js";
import { stripSignature } from "./signed-message.js";
import { createOpenPgpVerifier, type KeyringSource, type Verifier } from "./signing.js";

/**
 * Reading an APT repository from an http(s):// or file:// URL as apt does: InRelease (or Release with
 * Release.gpg when there is no InRelease) verified against a keyring, the Release parsed, its Suite or
 * Codename checked and its Valid-Until honoured; index files fetched (by hash when the repository offers
 * it), checked for size and SHA256 against the Release, decompressed and parsed.
 */

export interface ReadRepositoryOptions {
  /** The suite (or codename) under dists/. */
  suite: string;
  /** Keys allowed to sign the repository. Required unless `verifier` is given or `allowUnsigned` is set. */
  keyring?: KeyringSource;
  /** Verifier to use (default: openpgp.js over `keyring`; "gpgv" runs the gpgv program instead). */
  verifier?: Verifier | "openpgp" | "gpgv";
  /** Accept a repository without signatures (the Release is then read unverified). Default false. */
  allowUnsigned?: boolean;
  /** Time for the Valid-Until check; default now. */
  now?: Date;
  /** Largest file fetched, in bytes (default 512 MiB): protection against hostile servers. */
  maxFileSize?: number;
  /** How http(s) URLs are fetched (default: the global fetch); e.g. a client that adds its credentials. */
  fetch?: RepositoryFetch;
}

/** A fetch for a repository's files: the global one, or one that adds what the server asks for (a token). */
export type RepositoryFetch = (url: string, init: { redirect: "follow"; signal?: AbortSignal }) => Promise<Response>;

export interface AptRepositoryReader {
  /** Base URL of the repository (without a trailing slash). */
  url: string;
  suite: string;
  release: ReleaseFile;
  /** The Release text exactly as signed. */
  releaseText: string;
  /** Fingerprints of the keys that signed it (empty when read unsigned). */
  signers: string[];
  /** Which signed file was used. */
  signedWith: "InRelease" | "Release.gpg" | "unsigned";
  /**
   * Fetch a file listed in the Release (path relative to dists/<suite>/), verified for size and SHA256;
   * by-hash when the Release has Acquire-By-Hash. The content is returned as it is stored (compressed).
   */
  fetchListed(path: string): Promise<Buffer>;
  /**
   * Fetch an index by its uncompressed path (`main/binary-amd64/Packages`), choosing the .xz, .gz or
   * uncompressed variant the Release lists (in that order), verified and decompressed.
   */
  fetchIndex(path: string): Promise<Buffer>;
  /** The stanzas of a component's Packages index for an architecture. */
  packages(component: string, architecture: string): Promise<Paragraph[]>;
  /** The stanzas of a component's Sources index. */
  sources(component: string): Promise<Paragraph[]>;
  /** Iterate a Packages or Sources index stanza by stanza (index path without compression suffix). */
  iterateIndex(path: string): AsyncGenerator<Paragraph>;
  /** Fetch a pool file (a Filename from Packages), verified against the size and SHA256 given. */
  fetchPoolFile(filename: string, expected: { size: number; sha256: string }): Promise<Buffer>;
}

const DEFAULT_MAX_FILE = 512 * 1024 * 1024;

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`;
}

/** Fetch a URL's bytes; undefined for "not found" (HTTP 404/410 or a missing file), REPO_FETCH_FAILED otherwise. */
export async function fetchRepositoryFile(
  url: string,
  maxSize = DEFAULT_MAX_FILE,
  fetchUrl: RepositoryFetch = fetch,
): Promise<Buffer | undefined> {
  if (url.startsWith("file:")) {
    try {
      const data = await readFile(fileURLToPath(url));
      if (data.length > maxSize) throw debianError("REPO_FETCH_FAILED", `${url}: larger than ${maxSize} bytes`);
      return data;
    } catch (error) {
      if (isCodedError(error)) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw debianError("REPO_FETCH_FAILED", `${url}: ${(error as Error).message}`, { cause: error, details: { url } });
    }
  }
  if (!/^https?:/.test(url)) {
    throw debianError("REPO_FETCH_FAILED", `${url}: unsupported URL scheme (http://, https:// and file:// are)`, { details: { url } });
  }
  let response: Response;
  try {
    response = await fetchUrl(url, { redirect: "follow" });
  } catch (error) {
    throw debianError("REPO_FETCH_FAILED", `${url}: ${(error as Error).message}`, { cause: error, details: { url } });
  }
  if (response.status === 404 || response.status === 410) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw debianError("REPO_FETCH_FAILED", `${url}: HTTP ${response.status} ${response.statusText}`, {
      details: { url, status: response.status },
    });
  }
  const declared = Number(response.headers.get("content-length") ?? "NaN");
  if (declared > maxSize) {
    await response.body?.cancel();
    throw debianError("REPO_FETCH_FAILED", `${url}: ${declared} bytes, more than the limit of ${maxSize}`, { details: { url } });
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body ?? []) {
      total += chunk.length;
      if (total > maxSize) throw debianError("REPO_FETCH_FAILED", `${url}: more than the limit of ${maxSize} bytes`, { details: { url } });
      chunks.push(chunk);
    }
  } catch (error) {
    if (isCodedError(error)) throw error;
    throw debianError("REPO_FETCH_FAILED", `${url}: ${(error as Error).message}`, { cause: error, details: { url } });
  }
  return Buffer.concat(chunks);
}

async function mustFetch(url: string, maxSize: number, fetchUrl?: RepositoryFetch): Promise<Buffer> {
  const data = await fetchRepositoryFile(url, maxSize, fetchUrl);
  if (data === undefined) throw debianError("REPO_FETCH_FAILED", `${url}: not found`, { details: { url } });
  return data;
}

function verifyEntry(data: Buffer, entry: ReleaseFileEntry, where: string): void {
  if (data.length !== entry.size) {
    throw debianError("CHECKSUM_MISMATCH", `${where}: ${data.length} bytes, the Release says ${entry.size}`, {
      hint: "the repository changed while it was read, or the file was tampered with; try again",
      details: { path: entry.path, expected: entry.size, actual: data.length },
    });
  }
  if (entry.sha256 !== undefined) {
    const actual = createHash("sha256").update(data).digest("hex");
    if (actual !== entry.sha256) {
      throw debianError("CHECKSUM_MISMATCH", `${where}: SHA256 ${actual}, the Release says ${entry.sha256}`, {
        hint: "the repository changed while it was read, or the file was tampered with; try again",
        details: { path: entry.path, expected: entry.sha256, actual },
      });
    }
  } else if (entry.sha512 !== undefined) {
    const actual = createHash("sha512").update(data).digest("hex");
    if (actual !== entry.sha512) {
      throw debianError("CHECKSUM_MISMATCH", `${where}: SHA512 differs from the Release`, { details: { path: entry.path } });
    }
  } else {
    throw debianError("REPO_INVALID", `${where}: the Release gives no SHA256 or SHA512 for ${entry.path} (MD5 and SHA1 are not trusted)`);
  }
}

async function resolveVerifier(options: ReadRepositoryOptions): Promise<Verifier | undefined> {
  if (options.verifier !== undefined && typeof options.verifier === "object") return options.verifier;
  if (options.keyring === undefined) {
    if (options.allowUnsigned) return undefined;
    throw debianError("REPO_SIGNATURE_INVALID", "no keyring given to verify the repository with", {
      hint: "pass the repository's public key (keyring), or allowUnsigned for a repository you trust otherwise",
    });
  }
  return options.verifier === "gpgv"
    ? createGpgvVerifier(options.keyring)
    : createOpenPgpVerifier(options.keyring, options.now ? { date: options.now } : {});
}

/** Open an APT repository suite: fetch, verify and parse its Release. */
export async function readRepository(url: string, options: ReadRepositoryOptions): Promise<AptRepositoryReader> {
  const base = url.replace(/\/+$/, "");
  const suite = options.suite;
  if (!/^[A-Za-z0-9][A-Za-z0-9.+~_/-]*$/.test(suite) || suite.includes("..")) {
    throw debianError("REPO_INVALID", `invalid suite ${JSON.stringify(suite)}`);
  }
  const maxSize = options.maxFileSize ?? DEFAULT_MAX_FILE;
  const distUrl = joinUrl(base, `dists/${suite}`);
  const verifier = await resolveVerifier(options);

  let releaseText: string;
  let signers: string[] = [];
  let signedWith: AptRepositoryReader["signedWith"];
  const inRelease = await fetchRepositoryFile(`${distUrl}/InRelease`, maxSize, options.fetch);
  if (inRelease !== undefined) {
    const text = inRelease.toString("utf8");
    if (verifier) {
      const verified = await verifier.verifyInline(text, `${distUrl}/InRelease`);
      releaseText = verified.text;
      signers = verified.fingerprints;
      signedWith = "InRelease";
    } else {
      releaseText = stripSignature(text, `${distUrl}/InRelease`);
      signedWith = "unsigned";
    }
  } else {
    const release = await fetchRepositoryFile(`${distUrl}/Release`, maxSize, options.fetch);
    if (release === undefined) {
      throw debianError("REPO_FETCH_FAILED", `${distUrl}: neither InRelease nor Release exists`, {
        hint: `check the repository URL and the suite name (${suite})`,
        details: { url: distUrl },
      });
    }
    if (verifier) {
      const signature = await fetchRepositoryFile(`${distUrl}/Release.gpg`, maxSize, options.fetch);
      if (signature === undefined) {
        throw debianError("REPO_SIGNATURE_INVALID", `${distUrl}: the repository is not signed (no InRelease, no Release.gpg)`, {
          hint: "sign the repository, or read it with allowUnsigned",
        });
      }
      const verified = await verifier.verifyDetached(release, signature, `${distUrl}/Release.gpg`);
      signers = verified.fingerprints;
      signedWith = "Release.gpg";
    } else signedWith = "unsigned";
    releaseText = release.toString("utf8");
  }

  const release = parseRelease(releaseText, `${distUrl}/Release`);
  if (release.suite !== suite && release.codename !== suite && !suite.includes("/")) {
    throw debianError(
      "REPO_INVALID",
      `${distUrl}/Release is for suite ${release.suite ?? "?"} (codename ${release.codename ?? "?"}), not ${suite}`,
      {
        hint: "a Release that names another suite may be a replayed file from elsewhere",
      },
    );
  }
  const now = options.now ?? new Date();
  if (release.validUntil !== undefined && release.validUntil.getTime() < now.getTime()) {
    throw debianError("REPO_INVALID", `${distUrl}/Release expired on ${release.validUntil.toISOString()} (Valid-Until)`, {
      hint: "the repository is no longer refreshed; republish it or check the clock",
    });
  }

  const fetchListed = async (path: string): Promise<Buffer> => {
    const entry = release.files.get(path);
    if (entry === undefined) throw debianError("REPO_INVALID", `${distUrl}/Release does not list ${path}`, { details: { path } });
    if (release.acquireByHash && entry.sha256 !== undefined) {
      const slash = path.lastIndexOf("/");
      const dir = slash === -1 ? "" : `${path.slice(0, slash)}/`;
      const byHash = await fetchRepositoryFile(`${distUrl}/${dir}by-hash/SHA256/${entry.sha256}`, maxSize, options.fetch);
      if (byHash !== undefined) {
        verifyEntry(byHash, entry, `${distUrl}/${dir}by-hash/SHA256/${entry.sha256}`);
        return byHash;
      }
    }
    const data = await mustFetch(`${distUrl}/${path}`, maxSize, options.fetch);
    verifyEntry(data, entry, `${distUrl}/${path}`);
    return data;
  };

  const fetchIndex = async (path: string): Promise<Buffer> => {
    const variants: Array<[string, Compression]> = [
      [`${path}.xz`, "xz"],
      [`${path}.gz`, "gzip"],
      [path, "none"],
    ];
    const chosen = variants.find(([p]) => release.files.has(p));
    if (!chosen) throw debianError("REPO_INVALID", `${distUrl}/Release lists no ${path} (nor .xz, .gz)`, { details: { path } });
    const [file, compression] = chosen;
    const raw = await fetchListed(file);
    if (compression === "none") return raw;
    const chunks: Uint8Array[] = [];
    let total = 0;
    async function* once(): AsyncGenerator<Uint8Array> {
      yield raw;
    }
    for await (const chunk of decompress(once(), compression, {
      source: `${distUrl}/${file}`,
      fail: (message, cause) => debianError("REPO_INVALID", message, { cause }),
    })) {
      total += chunk.length;
      if (total > maxSize) throw debianError("REPO_INVALID", `${distUrl}/${file}: decompresses to more than ${maxSize} bytes`);
      chunks.push(chunk);
    }
    const data = Buffer.concat(chunks);
    // when the Release also lists the uncompressed index, check what we decompressed against it
    const plain = release.files.get(path);
    if (plain !== undefined && (plain.sha256 !== undefined || plain.sha512 !== undefined))
      verifyEntry(data, plain, `${distUrl}/${file} (decompressed)`);
    return data;
  };

  async function* iterateIndex(path: string): AsyncGenerator<Paragraph> {
    const text = (await fetchIndex(path)).toString("utf8");
    yield* iterateDeb822(text, { source: `${distUrl}/${path}` });
  }

  const collect = async (path: string): Promise<Paragraph[]> => {
    const out: Paragraph[] = [];
    for await (const p of iterateIndex(path)) out.push(p);
    return out;
  };

  return {
    url: base,
    suite,
    release,
    releaseText,
    signers,
    signedWith,
    fetchListed,
    fetchIndex,
    iterateIndex,
    packages: (component, architecture) => collect(`${component}/binary-${architecture}/Packages`),
    sources: (component) => collect(`${component}/source/Sources`),
    async fetchPoolFile(filename, expected) {
      if (filename.split("/").includes("..") || filename.startsWith("/")) {
        throw debianError("REPO_INVALID", `unsafe pool file name ${JSON.stringify(filename)}`);
      }
      const data = await mustFetch(joinUrl(base, filename), maxSize, options.fetch);
      verifyEntry(data, { path: filename, size: expected.size, sha256: expected.sha256 }, joinUrl(base, filename));
      return data;
    },
  };
}
