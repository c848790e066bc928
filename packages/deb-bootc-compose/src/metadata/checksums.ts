import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { type Logger, writeFileAtomic } from "@debian-bootc/core";
import { hashFileWith } from "@debian-bootc/debian";

/**
 * work/checksums.json: the SHA256 of each file of compose/ with the identity of the file it was read
 * from (device, inode, size, modification time in nanoseconds). A later compose whose files are hard
 * links of these (the disk images, the OCI layout and archive it took over) finds the same identity
 * and takes the sum instead of reading the file again; a file written anew or changed in place (its
 * size or mtime differs) is read.
 */
const CHECKSUMS_FILE = join("work", "checksums.json");

interface ChecksumRecord {
  file: string;
  identity: string;
  sha256: string;
}

/** Every file under dir except OSTree repositories' object stores, sorted, relative to dir. */
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(join(dir, prefix), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  const names = new Set(entries.map((e) => e.name));
  const ostreeRepo = names.has("objects") && names.has("config") && names.has("refs");
  for (const e of entries) {
    const rel = prefix === "" ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) {
      if (ostreeRepo && e.name === "objects") continue;
      out.push(...(await listFiles(dir, rel)));
    } else if (e.isFile()) out.push(rel);
  }
  return out;
}

async function identity(path: string): Promise<string> {
  const s = await stat(path, { bigint: true });
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`;
}

async function previousSums(previous: string | undefined): Promise<Map<string, string>> {
  if (!previous) return new Map();
  try {
    const records = JSON.parse(await readFile(join(previous, CHECKSUMS_FILE), "utf8")) as ChecksumRecord[];
    return new Map(records.map((r) => [r.identity, r.sha256]));
  } catch {
    return new Map();
  }
}

export interface ChecksumOptions {
  /** Sums the phases computed of files they wrote this run (path relative to compose/ -> SHA256). */
  known?: ReadonlyMap<string, string>;
  /** The previous compose's directory, whose work/checksums.json may hold the sums of shared files. */
  previous?: string;
  logger?: Logger;
}

/**
 * compose/SHA256SUMS in sha256sum's format, verifiable with `sha256sum -c` from compose/, and
 * work/checksums.json for the next compose. Returns how many files it lists.
 */
export async function writeChecksums(composeDir: string, options: ChecksumOptions = {}): Promise<number> {
  const dir = join(composeDir, "compose");
  const files = (await listFiles(dir)).filter((f) => f !== "SHA256SUMS");
  const shared = await previousSums(options.previous);
  const records: ChecksumRecord[] = [];
  let read = 0;
  for (const file of files) {
    const path = join(dir, file);
    const id = await identity(path);
    let sha256 = options.known?.get(file) ?? shared.get(id);
    if (!sha256) {
      sha256 = (await hashFileWith(path, ["sha256"])).sha256;
      read++;
    }
    records.push({ file, identity: id, sha256 });
  }
  await writeFileAtomic(join(dir, "SHA256SUMS"), `${records.map((r) => `${r.sha256}  ${r.file}`).join("\n")}\n`);
  await mkdir(join(composeDir, "work"), { recursive: true });
  await writeFileAtomic(join(composeDir, CHECKSUMS_FILE), `${JSON.stringify(records)}\n`);
  options.logger?.info({ files: files.length, read, reused: files.length - read }, "checksums");
  return files.length;
}
