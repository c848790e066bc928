import { debianError } from "./errors.js";

/**
 * The OpenPGP cleartext signature framework (RFC 9580 §7) as used by .dsc, .changes and InRelease files.
 * This module only takes the wrapper apart; verifying the signature is the signing module's job.
 */
export interface SignedMessage {
  /** The signed text with dash-escaping undone, as gpgv hashes it (without the final line break). */
  text: string;
  /** The ASCII-armoured signature block, including its BEGIN and END lines. */
  signature: string;
  /** Hash algorithms named in `Hash:` armour headers (may be empty). */
  hashes: string[];
}

const BEGIN_MESSAGE = "-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE = "-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE = "-----END PGP SIGNATURE-----";

export function isSignedMessage(text: string): boolean {
  return text.trimStart().startsWith(BEGIN_MESSAGE);
}

/** Split a cleartext-signed message; SIGNED_MESSAGE_SYNTAX when the wrapper is broken. */
export function parseSignedMessage(text: string, source = "input"): SignedMessage {
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  const fail = (line: number, why: string): never => {
    throw debianError("SIGNED_MESSAGE_SYNTAX", `${source}:${line}: ${why}`, { details: { source, line } });
  };
  let i = 0;
  while (i < lines.length && lines[i]!.trim() === "") i++;
  if (lines[i] !== BEGIN_MESSAGE) fail(i + 1, `expected "${BEGIN_MESSAGE}"`);
  i++;
  const hashes: string[] = [];
  for (; i < lines.length && lines[i] !== ""; i++) {
    const header = /^([A-Za-z]+): (.*)$/.exec(lines[i]!);
    if (!header) fail(i + 1, "malformed armour header (expected `Hash: ALGO` or an empty line)");
    if (header![1] === "Hash") hashes.push(...header![2]!.split(",").map((h) => h.trim()));
  }
  if (i >= lines.length) fail(i, "no empty line after the armour headers");
  i++;
  const body: string[] = [];
  for (; i < lines.length && lines[i] !== BEGIN_SIGNATURE; i++) {
    const line = lines[i]!;
    if (line.startsWith("- ")) body.push(line.slice(2));
    else if (line.startsWith("-")) fail(i + 1, "unescaped line starting with '-' inside the signed text");
    else body.push(line);
  }
  if (i >= lines.length) fail(i, `no "${BEGIN_SIGNATURE}" line`);
  const start = i;
  for (; i < lines.length && lines[i] !== END_SIGNATURE; i++);
  if (i >= lines.length) fail(lines.length, `no "${END_SIGNATURE}" line`);
  return { text: body.join("\n"), signature: `${lines.slice(start, i + 1).join("\n")}\n`, hashes };
}

/** The payload of a possibly signed file: the signed text if signed, the text itself otherwise. */
export function stripSignature(text: string, source = "input"): string {
  if (!isSignedMessage(text)) return text;
  return `${parseSignedMessage(text, source).text}\n`;
}
