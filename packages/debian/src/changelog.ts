import { open } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { isCodedError } from "@debian-bootc/core";
import { debianError } from "./errors.js";
import { parseVersion } from "./version.js";

/**
 * The first entry of a debian/changelog, read the way `dpkg-parsechangelog` reads it: source, version,
 * distributions, urgency, the changes text, the trailer's maintainer and date, and the date as a Unix
 * timestamp (what a build uses as SOURCE_DATE_EPOCH).
 */
export interface ChangelogEntry {
  source: string;
  version: string;
  /** `unstable`, or several for `unstable experimental`. */
  distributions: string[];
  /** The distributions joined by a space, as dpkg-parsechangelog's Distribution field. */
  distribution: string;
  urgency: string;
  /** All `key=value` items after the `;` of the header (lower-case keys), urgency included. */
  metadata: Record<string, string>;
  /** The header line. */
  header: string;
  /** Body lines as written (leading and trailing empty lines dropped). */
  body: string[];
  /** The value of dpkg-parsechangelog's Changes field: the header, an empty line, the body (lines right-trimmed). */
  changes: string;
  /** Bug numbers closed (`Closes: #123, #456`), sorted. */
  closes: number[];
  /** `Name <email>` from the trailer line. */
  maintainer: string;
  /** The date as written in the trailer. */
  date: string;
  /** The date in seconds since the epoch: SOURCE_DATE_EPOCH. */
  timestamp: number;
}

const HEADER = /^(\w[-+0-9a-z.]*) \(([^() \t]+)\)((?:\s+[-+0-9a-z.]+)+);(.*?)\s*$/i;
const TRAILER = /^ -- (.*) <(.*)>( {1,2})(.*?)\s*$/;
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const CLOSES = /closes:\s*(?:bug)?#?\s?\d+(?:,\s*(?:and)?\s*(?:bug)?#?\s?\d+)*/gi;

/** Parse an RFC 2822 changelog date (`Mon, 02 Nov 2026 13:55:59 +0100`) into seconds since the epoch. */
export function parseChangelogDate(text: string): number | undefined {
  const m = /^(?:[A-Za-z]{3},\s+)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d{2}):(\d{2})\s+([+-])(\d{2})(\d{2})$/.exec(
    text.trim(),
  );
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2]!.toLowerCase());
  if (month < 0) return undefined;
  const [day, year, hour, minute, second] = [m[1], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const offset = (m[7] === "-" ? -1 : 1) * (Number(m[8]) * 3600 + Number(m[9]) * 60);
  return Date.UTC(year, month, day, hour, minute, second) / 1000 - offset;
}

/** Parse the first entry of a changelog text. CHANGELOG_INVALID names the line and what was expected. */
export function parseChangelogEntry(text: string, source = "debian/changelog"): ChangelogEntry {
  const lines = text.split("\n");
  const fail = (line: number, why: string): never => {
    throw debianError("CHANGELOG_INVALID", `${source}:${line}: ${why}`, { details: { source, line } });
  };
  let i = 0;
  while (i < lines.length && lines[i]!.trim() === "") i++;
  if (i >= lines.length) fail(1, "empty changelog");
  const headerLine = lines[i]!.replace(/\r$/, "");
  const header = HEADER.exec(headerLine);
  if (!header) fail(i + 1, `expected "source (version) distribution; urgency=..." but got ${JSON.stringify(headerLine.slice(0, 80))}`);
  const [, sourceName, version, dists, meta] = header! as unknown as [string, string, string, string, string];
  try {
    parseVersion(version, { what: "changelog version" });
  } catch (error) {
    fail(i + 1, (error as Error).message);
  }
  const metadata: Record<string, string> = {};
  for (const item of meta.split(",")) {
    const kv = /^\s*([-0-9a-z]+)=\s*(.*?)\s*$/i.exec(item);
    if (!kv) {
      if (item.trim() !== "") fail(i + 1, `malformed header item ${JSON.stringify(item.trim())} (expected key=value)`);
      continue;
    }
    metadata[kv[1]!.toLowerCase()] = kv[2]!;
  }
  const urgency = metadata.urgency;
  if (urgency === undefined) fail(i + 1, "no urgency= in the header");
  const headerIndex = i;
  const body: string[] = [];
  let trailer: RegExpExecArray | null = null;
  for (i++; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, "");
    if (line.startsWith(" -- ")) {
      trailer = TRAILER.exec(line);
      if (!trailer) fail(i + 1, `malformed trailer line (expected " -- Name <email>  date"): ${JSON.stringify(line.slice(0, 80))}`);
      break;
    }
    if (HEADER.test(line)) fail(i + 1, "next entry starts before this one's trailer line");
    body.push(line);
  }
  if (!trailer) fail(lines.length, `entry starting at line ${headerIndex + 1} has no trailer line`);
  while (body.length > 0 && body[0]!.trim() === "") body.shift();
  while (body.length > 0 && body[body.length - 1]!.trim() === "") body.pop();
  const date = trailer![4]!;
  const timestamp = parseChangelogDate(date);
  if (timestamp === undefined) fail(i + 1, `malformed date ${JSON.stringify(date)} (expected like "Mon, 02 Nov 2026 13:55:59 +0100")`);
  const closes = new Set<number>();
  // matched over the whole text, as dpkg does: a "Closes:" list may wrap onto the next line
  for (const match of body.join("\n").matchAll(CLOSES)) for (const n of match[0].matchAll(/\d+/g)) closes.add(Number(n[0]));
  const distributions = dists.trim().split(/\s+/);
  return {
    source: sourceName,
    version,
    distributions,
    distribution: distributions.join(" "),
    urgency: urgency!,
    metadata,
    header: headerLine,
    body,
    // dpkg drops trailing white space when it writes the field
    changes: [headerLine, "", ...body].map((l) => l.trimEnd()).join("\n"),
    closes: [...closes].sort((a, b) => a - b),
    maintainer: `${trailer![1]} <${trailer![2]}>`,
    date,
    timestamp: timestamp!,
  };
}

/** Read the first entry of a changelog file, reading no more than needed (at most `limit` bytes). */
export async function readChangelogEntry(path: string, limit = 16 * 1024 * 1024): Promise<ChangelogEntry> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw debianError("CHANGELOG_INVALID", `${path}: cannot read changelog: ${(error as Error).message}`, {
      cause: error,
      details: { source: path },
    });
  }
  try {
    const decoder = new StringDecoder("utf8");
    const buf = Buffer.alloc(64 * 1024);
    let text = "";
    let total = 0;
    let searchFrom = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, total);
      if (bytesRead === 0) break;
      total += bytesRead;
      text += decoder.write(buf.subarray(0, bytesRead));
      // stop once the first trailer line is complete: only the new text (and the line before it) is searched
      const trailer = /^ -- .*\n/m.exec(text.slice(searchFrom));
      if (trailer) return parseChangelogEntry(text, path);
      searchFrom = Math.max(0, text.lastIndexOf("\n") + 1);
      if (total >= limit)
        throw debianError("CHANGELOG_INVALID", `${path}: no complete first entry in the first ${limit} bytes`, {
          details: { source: path },
        });
    }
    return parseChangelogEntry(text + decoder.end(), path);
  } catch (error) {
    if (isCodedError(error)) throw error;
    throw debianError("CHANGELOG_INVALID", `${path}: ${(error as Error).message}`, { cause: error, details: { source: path } });
  } finally {
    await handle.close();
  }
}
