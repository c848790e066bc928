import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { isCodedError } from "@debian-bootc/core";
import { compareVersions } from "../version.js";

export interface VersionPair {
  a: string;
  b: string;
  /** `dpkg --compare-versions`' verdict: -1, 0, 1, or E when dpkg refuses a version. */
  expected: string;
}

/** The differential fixture: pairs from trixie's indexes, judged by `dpkg --compare-versions`. */
export function loadVersionPairs(): VersionPair[] {
  const text = gunzipSync(readFileSync(new URL("./version-pairs.tsv.gz", import.meta.url))).toString("utf8");
  const out: VersionPair[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const [a, b, expected] = line.split("\t");
    out.push({ a: a!, b: b!, expected: expected! });
  }
  return out;
}

/** Our verdict on a pair, spelt as the fixture spells dpkg's. */
export function ourVerdict(a: string, b: string): string {
  try {
    return String(compareVersions(a, b));
  } catch (error) {
    if (isCodedError(error, "VERSION_INVALID")) return "E";
    throw error;
  }
}
