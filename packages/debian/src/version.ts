import { debianError } from "./errors.js";

/**
 * Debian versions: `[epoch:]upstream_version[-debian_revision]` (Debian Policy 5.6.12), compared
 * exactly as dpkg compares them (lib/dpkg/version.c `verrevcmp`), and checked against a differential
 * fixture of real archive pairs judged by `dpkg --compare-versions`.
 *
 * Two levels of acceptance, because dpkg itself has two:
 *
 * - strict (the default of `parseVersion`): what may appear in a Version field. dpkg's field parser and
 *   dpkg-deb refuse the strings that `parseversion()` only warns about (upstream not starting with a
 *   digit, characters outside `[A-Za-z0-9.+~:-]` / `[A-Za-z0-9.+~]`), so strict rejects them too, and
 *   additionally follows Policy where dpkg is more liberal: no `:` in upstream_version (dpkg still
 *   accepts it after an epoch), an epoch of plain digits (dpkg's strtol also takes `+1` or `-0`), and
 *   no surrounding whitespace (dpkg trims it).
 * - lenient (`{ lenient: true }`, and what `compareVersions` accepts): exactly what
 *   `dpkg --compare-versions` accepts, warnings included: surrounding blanks are trimmed, any
 *   character is allowed, and only dpkg's hard errors are rejected (empty string, embedded blanks,
 *   empty/non-numeric/negative/too big epoch, nothing after the colon, empty revision, empty upstream).
 *   `dpkg --compare-versions` treats the empty string as a "blank" version with special rules;
 *   here it is an error, since no archive field is empty.
 *
 * Non-ASCII characters are compared as dpkg compares them: as UTF-8 bytes through a signed `char`.
 */

export type VersionOp = "<<" | "<=" | "=" | ">=" | ">>";
/** The obsolete `<` and `>` mean `<=` and `>=` (dpkg still accepts them with a warning). */
export type VersionOpInput = VersionOp | "<" | ">";

export interface VersionParts {
  readonly epoch: number;
  readonly upstream: string;
  readonly revision: string;
}

export interface ParseVersionOptions {
  /** Accept everything `dpkg --compare-versions` accepts (see the module comment). Default false. */
  lenient?: boolean;
  /** What the version is, for the error message: "Version field of hello", "Build-Depends". */
  what?: string;
}

const INT_MAX = 2147483647;
const ASCII = Symbol("ascii");
const NON_ASCII = /[^\u0000-\u007f]/;

/** A parsed version. `toString()` gives the version as written (without surrounding blanks). */
export class Version implements VersionParts {
  readonly epoch: number;
  readonly upstream: string;
  readonly revision: string;
  readonly #text: string;
  /** Both parts are ASCII: the comparison can run on them directly (no UTF-8 conversion). */
  readonly [ASCII]: boolean;

  constructor(epoch: number, upstream: string, revision: string, text?: string) {
    this.epoch = epoch;
    this.upstream = upstream;
    this.revision = revision;
    this.#text = text ?? formatVersion({ epoch, upstream, revision });
    this[ASCII] = !NON_ASCII.test(upstream) && !NON_ASCII.test(revision);
  }

  toString(): string {
    return this.#text;
  }

  toJSON(): string {
    return this.#text;
  }

  compare(other: Version | string): number {
    return compareParsedVersions(this, typeof other === "string" ? parseVersion(other, { lenient: true }) : other);
  }

  satisfies(op: VersionOpInput, ref: Version | string): boolean {
    return opHolds(op, this.compare(ref));
  }
}

/** `[epoch:]upstream[-revision]`, with the epoch omitted when it is 0. */
export function formatVersion(parts: VersionParts): string {
  const head = parts.epoch === 0 ? parts.upstream : `${parts.epoch}:${parts.upstream}`;
  return parts.revision === "" ? head : `${head}-${parts.revision}`;
}

// Character classes, indexed by code unit (0..255; the byte path maps non-ASCII to UTF-8 bytes).
const DIGIT = new Uint8Array(256);
/** dpkg's order(): letters sort as themselves, `~` before everything (even the end), other characters after letters. */
const ORDER = new Int16Array(256);
/** Allowed in a strict upstream_version (Policy: alphanumerics and `. + - ~`). */
const UPSTREAM_OK = new Uint8Array(256);
/** Allowed in a strict debian_revision (Policy: alphanumerics and `+ . ~`). */
const REVISION_OK = new Uint8Array(256);
/** Allowed by dpkg without a warning in the upstream part (it also allows `:`). */
const DPKG_UPSTREAM_OK = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const digit = c >= 48 && c <= 57;
  const alpha = (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  DIGIT[c] = digit ? 1 : 0;
  // dpkg computes `c + 256` on a signed char: bytes >= 0x80 come out as 128..255.
  ORDER[c] = digit ? 0 : alpha ? c : c === 126 ? -1 : c >= 128 ? c : c + 256;
  const alnum = digit || alpha;
  UPSTREAM_OK[c] = alnum || c === 46 || c === 43 || c === 45 || c === 126 ? 1 : 0;
  REVISION_OK[c] = alnum || c === 46 || c === 43 || c === 126 ? 1 : 0;
  DPKG_UPSTREAM_OK[c] = UPSTREAM_OK[c] || c === 58 ? 1 : 0;
}

const isBlank = (c: number) => c === 32 || c === 9;

function invalid(text: string, reason: string, what: string | undefined): never {
  throw debianError("VERSION_INVALID", `${what ? `${what}: ` : ""}invalid version '${text}': ${reason}`, {
    hint: "a Debian version is [epoch:]upstream_version[-debian_revision] (Debian Policy 5.6.12)",
    details: { version: text, reason },
  });
}

// Result of the last scan(): module-level scratch so the comparator allocates nothing.
let sText = "";
let sEpoch = 0;
let sStart = 0;
let sHyphen = -1;
let sEnd = 0;
let sAscii = true;

/**
 * Splits a version into its parts (into the s* variables above) or explains why it is not one:
 * returns a reason string instead of throwing so that hot paths can decide; `parseVersion` throws
 * VERSION_INVALID with that reason.
 */
function scan(input: string, lenient: boolean): string | undefined {
  let text = input;
  if (text.length === 0) return "version string is empty";
  if (isBlank(text.charCodeAt(0)) || isBlank(text.charCodeAt(text.length - 1))) {
    if (!lenient) return "leading or trailing whitespace";
    text = text.replace(/^[ \t]+|[ \t]+$/g, "");
    if (text.length === 0) return "version string is empty";
  }
  const end = text.length;
  let colon = -1;
  let hyphen = -1;
  let high = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    high |= c;
    if (c === 58) {
      if (colon < 0) colon = i;
    } else if (c === 45) hyphen = i;
    else if (isBlank(c)) return "version string has embedded spaces";
  }
  let epoch = 0;
  let start = 0;
  if (colon >= 0) {
    // dpkg uses strtol(): an optional sign, then decimal digits, which must end at the first colon.
    let i = 0;
    let negative = false;
    const sign = text.charCodeAt(0);
    if (sign === 43 || sign === 45) {
      if (!lenient) return "epoch in version is not a number";
      negative = sign === 45;
      i = 1;
    }
    const digitsStart = i;
    while (i < colon && DIGIT[text.charCodeAt(i)] === 1) i++;
    if (i === digitsStart) return colon === 0 ? "epoch in version is empty" : "epoch in version is not number";
    if (i !== colon) return "epoch in version is not number";
    const digits = text.slice(digitsStart, colon).replace(/^0+(?=.)/, "");
    const value = digits.length > 10 ? Number.POSITIVE_INFINITY : Number(digits);
    if (negative && value !== 0) return "epoch in version is negative";
    if (value > INT_MAX) return "epoch in version is too big";
    if (colon === end - 1) return "nothing after colon in version number";
    epoch = value;
    start = colon + 1;
  }
  if (hyphen < start) hyphen = -1;
  if (hyphen === end - 1) return "revision number is empty";
  const upstreamEnd = hyphen < 0 ? end : hyphen;
  if (upstreamEnd === start) return "upstream version is empty";
  if (!lenient) {
    if (DIGIT[text.charCodeAt(start)] !== 1) return "version number does not start with digit";
    for (let i = start; i < upstreamEnd; i++) {
      const c = text.charCodeAt(i);
      if (c > 255 || UPSTREAM_OK[c] !== 1) {
        return c === 58
          ? "':' in upstream_version (Policy 5.6.12 forbids it; dpkg still accepts it after an epoch)"
          : `invalid character '${text[i]}' in version number`;
      }
    }
    for (let i = upstreamEnd + 1; hyphen >= 0 && i < end; i++) {
      const c = text.charCodeAt(i);
      if (c > 255 || REVISION_OK[c] !== 1) return `invalid character '${text[i]}' in revision number`;
    }
  }
  sText = text;
  sEpoch = epoch;
  sStart = start;
  sHyphen = hyphen;
  sEnd = end;
  sAscii = high < 128;
  return undefined;
}

/**
 * Parses a version; throws VERSION_INVALID naming the rule it breaks. Strict by default (what a
 * Version field may hold); `{ lenient: true }` accepts what `dpkg --compare-versions` accepts.
 */
export function parseVersion(text: string, options: ParseVersionOptions = {}): Version {
  const problem = scan(text, options.lenient === true);
  if (problem !== undefined) invalid(text, problem, options.what);
  const t = sText;
  return new Version(
    sEpoch,
    sHyphen < 0 ? t.slice(sStart, sEnd) : t.slice(sStart, sHyphen),
    sHyphen < 0 ? "" : t.slice(sHyphen + 1, sEnd),
    t,
  );
}

/** Why `text` is not a valid version (strict unless `lenient`), or undefined when it is one. */
export function versionProblem(text: string, options: { lenient?: boolean } = {}): string | undefined {
  return scan(text, options.lenient === true);
}

export function isValidVersion(text: string, options: { lenient?: boolean } = {}): boolean {
  return scan(text, options.lenient === true) === undefined;
}

/** UTF-8 bytes as a string of code units 0..255, so the byte-wise comparison can run on it. */
function toByteString(s: string): string {
  return Buffer.from(s, "utf8").toString("latin1");
}

/**
 * dpkg's verrevcmp over s[si, se) and t[ti, te): non-digit runs compared with ORDER (the end counts
 * as 0, so `~` sorts before it and everything else after it), digit runs numerically without
 * converting them to numbers (leading zeros skipped, the longer run wins, else the first difference).
 */
function verrevcmp(s: string, si: number, se: number, t: string, ti: number, te: number): number {
  while (si < se || ti < te) {
    for (;;) {
      const a = si < se ? s.charCodeAt(si) : 48;
      const b = ti < te ? t.charCodeAt(ti) : 48;
      // 48 ('0') stands for "end or digit": both are "no more non-digits" here.
      if (DIGIT[a] === 1 && DIGIT[b] === 1) break;
      const oa = si < se ? ORDER[a]! : 0;
      const ob = ti < te ? ORDER[b]! : 0;
      if (oa !== ob) return oa - ob;
      si++;
      ti++;
    }
    while (si < se && s.charCodeAt(si) === 48) si++;
    while (ti < te && t.charCodeAt(ti) === 48) ti++;
    let firstDiff = 0;
    while (si < se && ti < te) {
      const a = s.charCodeAt(si);
      const b = t.charCodeAt(ti);
      if (DIGIT[a] !== 1 || DIGIT[b] !== 1) break;
      if (firstDiff === 0) firstDiff = a - b;
      si++;
      ti++;
    }
    if (si < se && DIGIT[s.charCodeAt(si)] === 1) return 1;
    if (ti < te && DIGIT[t.charCodeAt(ti)] === 1) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}

/** verrevcmp over two whole strings (upstream or revision parts), -1/0/1. */
export function compareVersionPart(a: string, b: string): number {
  if (NON_ASCII.test(a) || NON_ASCII.test(b)) {
    a = toByteString(a);
    b = toByteString(b);
  }
  const r = verrevcmp(a, 0, a.length, b, 0, b.length);
  return r < 0 ? -1 : r > 0 ? 1 : 0;
}

/** Compares two parsed versions: epoch, then upstream, then revision. Returns -1, 0 or 1. */
export function compareParsedVersions(a: VersionParts, b: VersionParts): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  if (a instanceof Version && b instanceof Version && a[ASCII] && b[ASCII]) {
    let r = verrevcmp(a.upstream, 0, a.upstream.length, b.upstream, 0, b.upstream.length);
    if (r === 0) r = verrevcmp(a.revision, 0, a.revision.length, b.revision, 0, b.revision.length);
    return r < 0 ? -1 : r > 0 ? 1 : 0;
  }
  const r = compareVersionPart(a.upstream, b.upstream);
  return r !== 0 ? r : compareVersionPart(a.revision, b.revision);
}

/**
 * Compares two version strings as `dpkg --compare-versions` does: -1 when a < b, 0 when equal, 1 when
 * a > b. Throws VERSION_INVALID for the strings dpkg refuses with an error (it accepts, with a
 * warning, what only Policy forbids). Allocation-free for ASCII input: it is the comparator used to sort
 * whole indexes.
 */
export function compareVersions(a: string, b: string): number {
  let problem = scan(b, true);
  if (problem !== undefined) invalid(b, problem, undefined);
  const tb = sText;
  const epochB = sEpoch;
  const startB = sStart;
  const hyphenB = sHyphen;
  const endB = sEnd;
  const asciiB = sAscii;
  problem = scan(a, true);
  if (problem !== undefined) invalid(a, problem, undefined);
  if (sEpoch !== epochB) return sEpoch < epochB ? -1 : 1;
  if (!sAscii || !asciiB) return compareBytes(sText, tb);
  return compareScanned(sText, sStart, sHyphen, sEnd, tb, startB, hyphenB, endB);
}

function compareScanned(ta: string, sa: number, ha: number, ea: number, tb: string, sb: number, hb: number, eb: number): number {
  let r = verrevcmp(ta, sa, ha < 0 ? ea : ha, tb, sb, hb < 0 ? eb : hb);
  if (r === 0) r = verrevcmp(ta, ha < 0 ? ea : ha + 1, ea, tb, hb < 0 ? eb : hb + 1, eb);
  return r < 0 ? -1 : r > 0 ? 1 : 0;
}

/** The slow path for non-ASCII input (epochs already compared): the UTF-8 bytes, as dpkg sees them. */
function compareBytes(a: string, b: string): number {
  scan(toByteString(b), true);
  const tb = sText;
  const startB = sStart;
  const hyphenB = sHyphen;
  const endB = sEnd;
  scan(toByteString(a), true);
  return compareScanned(sText, sStart, sHyphen, sEnd, tb, startB, hyphenB, endB);
}

function opHolds(op: VersionOpInput, cmp: number): boolean {
  switch (op) {
    case "<<":
      return cmp < 0;
    case "<=":
    case "<":
      return cmp <= 0;
    case "=":
      return cmp === 0;
    case ">=":
    case ">":
      return cmp >= 0;
    case ">>":
      return cmp > 0;
    default:
      throw debianError("VERSION_INVALID", `unknown version relation '${String(op)}'`, {
        hint: "expected one of << <= = >= >> (or the obsolete < and >, meaning <= and >=)",
      });
  }
}

/** Whether `version op ref` holds, e.g. `versionSatisfies("1.2-1", ">=", "1.0")`. */
export function versionSatisfies(version: string | Version, op: VersionOpInput, ref: string | Version): boolean {
  const cmp =
    typeof version === "string" && typeof ref === "string"
      ? compareVersions(version, ref)
      : compareParsedVersions(asVersion(version), asVersion(ref));
  return opHolds(op, cmp);
}

function asVersion(v: string | Version): Version {
  return typeof v === "string" ? parseVersion(v, { lenient: true }) : v;
}

/**
 * Sorts version strings ascending with dpkg semantics (each parsed once; faster than
 * `list.sort(compareVersions)` for big lists). Returns a new array; throws on a version dpkg refuses.
 */
export function sortVersions(list: readonly string[]): string[] {
  const parsed = list.map((text) => ({ text, v: parseVersion(text, { lenient: true }) }));
  parsed.sort((x, y) => compareParsedVersions(x.v, y.v));
  return parsed.map((p) => p.text);
}
