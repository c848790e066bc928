import { parseChangelogEntry } from "./changelog.js";
import { debianError } from "./errors.js";

/**
 * Binary-only non-maintainer uploads (binNMUs): a rebuild of an unchanged source whose binaries get the
 * version `VERSION+bN`, as Debian's wanna-build and sbuild's --binNMU/--make-binNMU make them. The
 * rebuild is told by a changelog entry added on top of debian/changelog in the unpacked tree (the
 * source package itself is not changed); dpkg-genchanges then writes `Source: name (version)` and the
 * `binary-only=yes` header marks the entry, so the build's .changes and .buildinfo say what it is.
 */
export interface BinNmu {
  /** N of `+bN`, from 1. */
  number: number;
  /** Why: the changelog line (one line of printable text). */
  reason: string;
  /** `Name <email>` of the trailer (default: the entry below's maintainer, as sbuild's default). */
  maintainer?: string;
  /** The trailer's time (default: now); it becomes SOURCE_DATE_EPOCH. */
  date?: Date;
}

const MAX_REASON = 500;

/** Checks a binNMU request (hostile input: a line break in the reason would forge changelog structure). */
export function checkBinNmu(binnmu: BinNmu): BinNmu {
  if (!Number.isInteger(binnmu.number) || binnmu.number < 1 || binnmu.number > 9999)
    throw debianError("BINNMU_INVALID", `binNMU number ${binnmu.number}: expected an integer from 1 to 9999`);
  const reason = binnmu.reason.trim();
  if (reason === "" || reason.length > MAX_REASON || !/^[\p{L}\p{N}\p{P}\p{S} ]+$/u.test(reason))
    throw debianError(
      "BINNMU_INVALID",
      `binNMU reason ${JSON.stringify(binnmu.reason.slice(0, 80))}: expected one line of printable text, at most ${MAX_REASON} characters`,
    );
  if (binnmu.maintainer !== undefined && !/^[^<>\n]+ <[^<>\s]+>$/.test(binnmu.maintainer))
    throw debianError("BINNMU_INVALID", `binNMU maintainer ${JSON.stringify(binnmu.maintainer.slice(0, 80))}: expected "Name <email>"`);
  return { ...binnmu, reason };
}

/** The binaries' version of a binNMU: `1.0-1` and 2 give `1.0-1+b2`. */
export function binNmuVersion(version: string, number: number): string {
  return `${version}+b${number}`;
}

/** RFC 2822 as dpkg writes changelog dates, in UTC: `Thu, 03 Dec 2026 12:00:00 +0000`. */
function changelogDate(date: Date): string {
  return date.toUTCString().replace("GMT", "+0000");
}

/**
 * debian/changelog with the binNMU's entry on top, as sbuild writes it:
 *
 *     hello (2.10-5+b1) trixie; urgency=low, binary-only=yes
 *
 *       * Binary-only non-maintainer upload for amd64; no source changes.
 *       * Rebuild against libfoo 1.2.
 *
 *      -- Maintainer <m@example.org>  Thu, 03 Dec 2026 12:00:00 +0000
 */
export function addBinNmuEntry(changelog: string, request: BinNmu, arch: string): string {
  const binnmu = checkBinNmu(request);
  const top = parseChangelogEntry(changelog);
  const entry = [
    `${top.source} (${binNmuVersion(top.version, binnmu.number)}) ${top.distribution}; urgency=low, binary-only=yes`,
    "",
    `  * Binary-only non-maintainer upload for ${arch}; no source changes.`,
    `  * ${binnmu.reason}`,
    "",
    ` -- ${binnmu.maintainer ?? top.maintainer}  ${changelogDate(binnmu.date ?? new Date())}`,
    "",
    "",
  ].join("\n");
  return entry + changelog;
}
