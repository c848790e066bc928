import { formatField, Paragraph, parseDeb822 } from "./deb822.js";
import { debianError } from "./errors.js";

/**
 * The Release file of an APT repository (dists/<suite>/Release): repository metadata and the sizes and
 * checksums of every index below it. Written with the field order and formatting of the Debian archive
 * (dak): metadata first, `Date` in RFC 2822 form in UTC, then one checksum section per hash.
 * Differences from `apt-ftparchive release`, on purpose: it sorts the fields alphabetically, writes dates
 * with `+0000` and pads sizes to 16 columns; apt reads both forms alike.
 */

/** Hash sections of a Release file, in the order they are written. */
export const RELEASE_HASHES = ["MD5Sum", "SHA1", "SHA256", "SHA512"] as const;
export type ReleaseHash = (typeof RELEASE_HASHES)[number];

export interface ReleaseFileEntry {
  /** Path relative to dists/<suite>/, e.g. `main/binary-amd64/Packages.xz`. */
  path: string;
  size: number;
  md5?: string;
  sha1?: string;
  sha256?: string;
  sha512?: string;
}

export interface ReleaseInfo {
  origin?: string;
  label?: string;
  suite: string;
  codename?: string;
  version?: string;
  date: Date;
  validUntil?: Date;
  notAutomatic?: boolean;
  butAutomaticUpgrades?: boolean;
  acquireByHash?: boolean;
  /** Write `No-Support-for-Architecture-all: Packages` (arch:all packages are in every binary-<arch>); default true. */
  noSupportForArchitectureAll?: boolean;
  architectures: string[];
  components: string[];
  description?: string;
  /** Fingerprints for the `Signed-By` field (apt ≥ 2.3 then only trusts these keys for later updates). */
  signedBy?: string[];
  /** Extra fields, written after Description in the order given. */
  extraFields?: Record<string, string>;
}

/** The hash sections to write: MD5Sum and SHA256 by default (the archive lists only SHA256 today; MD5Sum costs nothing and serves old tools). */
export type ReleaseHashes = readonly ReleaseHash[];
export const DEFAULT_RELEASE_HASHES: ReleaseHashes = ["MD5Sum", "SHA256"];

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 2822 date in UTC as the archive writes it: `Sat, 17 May 2025 08:13:49 UTC`. */
export function formatReleaseDate(date: Date): string {
  if (Number.isNaN(date.getTime())) throw debianError("REPO_INVALID", "invalid date for a Release file");
  const two = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[date.getUTCDay()]}, ${two(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} UTC`;
}

/** Parse a Release `Date`/`Valid-Until` (RFC 2822 with `UTC`, `GMT` or a numeric zone, as apt accepts). */
export function parseReleaseDate(text: string, source = "Release"): Date {
  const m = /^(?:[A-Za-z]{3},\s+)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2}):(\d{2})\s+(UTC|GMT|Z|[+-]\d{4})$/.exec(text.trim());
  const month = m ? MONTHS.indexOf(m[2]!) : -1;
  if (!m || month === -1)
    throw debianError(
      "REPO_INVALID",
      `${source}: malformed date ${JSON.stringify(text)} (expected RFC 2822, e.g. "Sat, 17 May 2025 08:13:49 UTC")`,
    );
  let ms = Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  const zone = m[7]!;
  if (/^[+-]/.test(zone)) {
    const sign = zone.startsWith("-") ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5))) * 60_000;
  }
  return new Date(ms);
}

function hashValue(entry: ReleaseFileEntry, hash: ReleaseHash): string | undefined {
  switch (hash) {
    case "MD5Sum":
      return entry.md5;
    case "SHA1":
      return entry.sha1;
    case "SHA256":
      return entry.sha256;
    case "SHA512":
      return entry.sha512;
  }
}

/** One checksum section's lines as the archive writes them: ` <hash> <size right-aligned in 8> <path>`. */
function checksumLines(files: readonly ReleaseFileEntry[], hash: ReleaseHash): string {
  let out = "";
  for (const file of files) {
    const value = hashValue(file, hash);
    if (value === undefined) throw debianError("REPO_INVALID", `Release: ${file.path} has no ${hash} checksum`);
    out += `\n${value} ${String(file.size).padStart(8)} ${file.path}`;
  }
  return out;
}

/** Write a Release file. Files are listed in the order given (sort them for deterministic output). */
export function formatRelease(
  info: ReleaseInfo,
  files: readonly ReleaseFileEntry[],
  hashes: ReleaseHashes = DEFAULT_RELEASE_HASHES,
): string {
  const p = new Paragraph();
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined && value !== "") p.set(name, value);
  };
  for (const [name, value] of [
    ["Origin", info.origin],
    ["Label", info.label],
    ["Suite", info.suite],
    ["Version", info.version],
    ["Codename", info.codename],
  ] as const) {
    if (value !== undefined && /[\n]/.test(value)) throw debianError("REPO_INVALID", `Release: ${name} must be one line`);
    set(name, value);
  }
  set("Date", formatReleaseDate(info.date));
  if (info.validUntil) set("Valid-Until", formatReleaseDate(info.validUntil));
  if (info.notAutomatic) set("NotAutomatic", "yes");
  if (info.butAutomaticUpgrades) set("ButAutomaticUpgrades", "yes");
  if (info.acquireByHash) set("Acquire-By-Hash", "yes");
  if (info.noSupportForArchitectureAll ?? true) set("No-Support-for-Architecture-all", "Packages");
  set("Architectures", info.architectures.join(" "));
  set("Components", info.components.join(" "));
  set("Description", info.description);
  if (info.signedBy && info.signedBy.length > 0) set("Signed-By", info.signedBy.join(", "));
  for (const [name, value] of Object.entries(info.extraFields ?? {})) set(name, value);
  let out = p.toString();
  for (const hash of hashes) out += formatField(hash, checksumLines(files, hash));
  return out;
}

/** A parsed Release file. */
export interface ReleaseFile {
  fields: Paragraph;
  suite: string | undefined;
  codename: string | undefined;
  date: Date | undefined;
  validUntil: Date | undefined;
  architectures: string[];
  components: string[];
  acquireByHash: boolean;
  /** Every file listed, by path, with all the checksums the Release gives for it. */
  files: Map<string, ReleaseFileEntry>;
}

const HASH_KEYS: Record<ReleaseHash, keyof ReleaseFileEntry> = { MD5Sum: "md5", SHA1: "sha1", SHA256: "sha256", SHA512: "sha512" };
const HASH_LENGTH: Record<ReleaseHash, number> = { MD5Sum: 32, SHA1: 40, SHA256: 64, SHA512: 128 };

/** Parse a Release file (the text inside InRelease, or Release). */
export function parseRelease(text: string, source = "Release"): ReleaseFile {
  const paragraphs = parseDeb822(text, { source });
  if (paragraphs.length !== 1) {
    throw debianError("REPO_INVALID", `${source}: expected one paragraph, found ${paragraphs.length}`);
  }
  const fields = paragraphs[0]!;
  const files = new Map<string, ReleaseFileEntry>();
  for (const hash of RELEASE_HASHES) {
    for (const line of fields.lines(hash)) {
      const parts = line.split(/\s+/);
      const [digest, sizeText, path] = parts;
      if (parts.length !== 3 || digest === undefined || sizeText === undefined || path === undefined || !/^\d+$/.test(sizeText)) {
        throw debianError("REPO_INVALID", `${source}: malformed ${hash} line ${JSON.stringify(line)} (expected "<hash> <size> <path>")`);
      }
      if (!new RegExp(`^[0-9a-fA-F]{${HASH_LENGTH[hash]}}$`).test(digest)) {
        throw debianError("REPO_INVALID", `${source}: ${hash} of ${path} is not a ${HASH_LENGTH[hash]}-digit hex digest`);
      }
      const size = Number(sizeText);
      const entry = files.get(path) ?? { path, size };
      if (entry.size !== size) {
        throw debianError("REPO_INVALID", `${source}: ${path} is listed with two sizes (${entry.size} and ${size})`);
      }
      (entry as unknown as Record<string, string>)[HASH_KEYS[hash]] = digest.toLowerCase();
      files.set(path, entry);
    }
  }
  const date = fields.get("Date");
  const validUntil = fields.get("Valid-Until");
  const words = (name: string) => (fields.get(name) ?? "").split(/\s+/).filter((w) => w !== "");
  return {
    fields,
    suite: fields.get("Suite"),
    codename: fields.get("Codename"),
    date: date === undefined ? undefined : parseReleaseDate(date, `${source}: Date`),
    validUntil: validUntil === undefined ? undefined : parseReleaseDate(validUntil, `${source}: Valid-Until`),
    architectures: words("Architectures"),
    components: words("Components"),
    acquireByHash: /^yes$/i.test(fields.get("Acquire-By-Hash") ?? ""),
    files,
  };
}
