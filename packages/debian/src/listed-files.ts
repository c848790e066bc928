import { stat } from "node:fs/promises";
import { join } from "node:path";
import { type HashAlgorithm, hashFileWith } from "./checksums.js";
import type { Paragraph } from "./deb822.js";
import { debianError } from "./errors.js";

/**
 * The file lists of .dsc, .changes and .buildinfo files: `Files` (MD5), `Checksums-Sha1`,
 * `Checksums-Sha256` (and `Checksums-Sha512` where present), merged into one entry per file, and checked
 * against the files beside the control file.
 */
export interface ListedFile {
  name: string;
  size: number;
  md5?: string;
  sha1?: string;
  sha256?: string;
  sha512?: string;
  /** .changes only: the section and priority columns of `Files`. */
  section?: string;
  priority?: string;
}

const CHECKSUM_FIELDS: Array<[string, HashAlgorithm, number]> = [
  ["Files", "md5", 32],
  // .buildinfo spells the MD5 list this way
  ["Checksums-Md5", "md5", 32],
  ["Checksums-Sha1", "sha1", 40],
  ["Checksums-Sha256", "sha256", 64],
  ["Checksums-Sha512", "sha512", 128],
];

export const CHECKSUM_FIELD_OF: Record<HashAlgorithm, string> = {
  md5: "Files (MD5)",
  sha1: "Checksums-Sha1",
  sha256: "Checksums-Sha256",
  sha512: "Checksums-Sha512",
};

/** A listed name must be a plain file name: no directories, no `..`, nothing hidden in white space. */
export function isPlainFileName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !name.includes("/") && !/[\s\0]/.test(name);
}

/**
 * Merge the checksum fields of a paragraph. `withSectionPriority` reads the five-column `Files` of a
 * .changes. Raises CONTROL_FILE_INVALID for malformed lines, unsafe names, or fields that disagree.
 */
export function parseListedFiles(
  paragraph: Paragraph,
  source: string,
  options: { withSectionPriority?: boolean; requireFiles?: boolean } = {},
): ListedFile[] {
  const files = new Map<string, ListedFile>();
  const invalid = (field: string, why: string): never => {
    throw debianError("CONTROL_FILE_INVALID", `${source}: field ${field}: ${why}`, { details: { source, field } });
  };
  if (options.requireFiles !== false && !paragraph.has("Files"))
    invalid("Files", "missing (every upload and source control file lists its files)");
  for (const [field, algorithm, hexLength] of CHECKSUM_FIELDS) {
    const seen = new Set<string>();
    for (const line of paragraph.lines(field)) {
      const parts = line.split(/\s+/);
      const columns = field === "Files" && options.withSectionPriority ? 5 : 3;
      if (parts.length !== columns) invalid(field, `expected ${columns} columns, got ${JSON.stringify(line)}`);
      const [digest, sizeText] = parts as [string, string];
      const name = parts[columns - 1]!;
      if (!new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(digest))
        invalid(field, `malformed ${algorithm} digest ${JSON.stringify(digest)} for ${name}`);
      if (!/^[0-9]{1,15}$/.test(sizeText)) invalid(field, `malformed size ${JSON.stringify(sizeText)} for ${name}`);
      if (!isPlainFileName(name)) invalid(field, `file name ${JSON.stringify(name)} is not a plain file name`);
      if (seen.has(name)) invalid(field, `${name} is listed twice`);
      seen.add(name);
      const size = Number(sizeText);
      let entry = files.get(name);
      if (entry === undefined) {
        entry = { name, size };
        files.set(name, entry);
      } else if (entry.size !== size) {
        invalid(field, `${name} has size ${size} here but ${entry.size} in another checksum field`);
      }
      if (entry[algorithm] !== undefined && entry[algorithm] !== digest.toLowerCase()) {
        invalid(field, `${name} has a different ${algorithm} digest in another field`);
      }
      entry[algorithm] = digest.toLowerCase();
      if (columns === 5) {
        entry.section = parts[2];
        entry.priority = parts[3];
      }
    }
  }
  // every checksum field that is present must cover every file
  for (const [field, algorithm] of CHECKSUM_FIELDS) {
    if (!paragraph.has(field)) continue;
    for (const entry of files.values()) {
      if (entry[algorithm] === undefined) invalid(field, `${entry.name} is listed in other checksum fields but not here`);
    }
  }
  return [...files.values()];
}

export interface VerifyOptions {
  /** Name of the listing file, for messages. */
  source?: string;
}

/**
 * Check that each listed file exists in `dir` with the listed size and every listed digest.
 * LISTED_FILE_MISSING names the file; CHECKSUM_MISMATCH names the file and which size or checksum differs.
 * Sizes are checked for all files before anything is hashed.
 */
export async function verifyListedFiles(files: readonly ListedFile[], dir: string, options: VerifyOptions = {}): Promise<void> {
  const source = options.source ?? dir;
  for (const file of files) {
    const path = join(dir, file.name);
    let size: number;
    try {
      const st = await stat(path);
      if (!st.isFile()) throw Object.assign(new Error("not a regular file"), { code: "ENOTFILE" });
      size = st.size;
    } catch (error) {
      throw debianError("LISTED_FILE_MISSING", `${source}: listed file ${file.name} is missing from ${dir}`, {
        cause: error,
        details: { source, file: file.name, dir },
      });
    }
    if (size !== file.size) {
      throw debianError("CHECKSUM_MISMATCH", `${source}: ${file.name} is ${size} bytes, but ${file.size} are listed`, {
        details: { source, file: file.name, checksum: "size", expected: file.size, actual: size },
      });
    }
  }
  for (const file of files) {
    const algorithms = (["md5", "sha1", "sha256", "sha512"] as const).filter((a) => file[a] !== undefined);
    if (algorithms.length === 0) continue;
    const digests = await hashFileWith(join(dir, file.name), algorithms);
    for (const algorithm of algorithms) {
      if (digests[algorithm] !== file[algorithm]) {
        throw debianError(
          "CHECKSUM_MISMATCH",
          `${source}: ${file.name} has ${algorithm.toUpperCase()} ${digests[algorithm]}, but ${CHECKSUM_FIELD_OF[algorithm]} lists ${file[algorithm]}`,
          { details: { source, file: file.name, checksum: algorithm, expected: file[algorithm], actual: digests[algorithm] } },
        );
      }
    }
  }
}
