import { createHash } from "node:crypto";
import { type BigIntStats, createReadStream, lstatSync, readdirSync, readlinkSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * The content record of a build-dependency layer, kept next to it (bases/KEY/gen-TIME/deps/HASH/manifest):
 * one line per entry of the layer, sorted by path,
 *
 *   "PATH" TYPE MODE UID GID DETAIL<TAB>INO CTIME
 *
 * where DETAIL is a regular file's size and SHA256, a symlink's target, a device node's (an overlay
 * whiteout's) number. The layer's digest is the SHA256 of the lines before the tabs: it names the
 * layer's content, owners and modes, and meta.json records it.
 *
 * Before reuse, the layer is checked against its manifest with lstat alone (no hashing, so a warm build
 * pays milliseconds, not a read of hundreds of megabytes): the same entries with the same type, mode,
 * owners, size (and symlink target), and the same inode and change time. The kernel sets a change time
 * on every write, chmod, chown, link, rename and xattr change, and nobody without the host's clock can set
 * it back; so an entry with its recorded inode and change time holds the content that was hashed.
 */

type Kind = "d" | "f" | "l" | "c" | "b" | "p" | "s";

interface Entry {
  rel: string;
  info: BigIntStats;
}

function kindOf(info: BigIntStats): Kind {
  if (info.isDirectory()) return "d";
  if (info.isFile()) return "f";
  if (info.isSymbolicLink()) return "l";
  if (info.isCharacterDevice()) return "c";
  if (info.isBlockDevice()) return "b";
  if (info.isFIFO()) return "p";
  return "s";
}

/** Every entry of the tree (the top directory as "."), sorted by path; never follows a symlink. */
function walk(root: string): Entry[] {
  const out: Entry[] = [{ rel: ".", info: lstatSync(root, { bigint: true }) }];
  const visit = (relDir: string) => {
    const names = readdirSync(join(root, relDir)).sort();
    for (const name of names) {
      const rel = relDir ? `${relDir}/${name}` : name;
      const info = lstatSync(join(root, rel), { bigint: true });
      out.push({ rel, info });
      if (info.isDirectory()) visit(rel);
    }
  };
  visit("");
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** The part of a line that lstat (and readlink) can check: everything but a regular file's hash. */
function statPart(root: string, { rel, info }: Entry): string {
  const kind = kindOf(info);
  const head = `${JSON.stringify(rel)} ${kind} ${(info.mode & 0o7777n).toString(8)} ${info.uid} ${info.gid}`;
  if (kind === "f") return `${head} ${info.size}`;
  if (kind === "l") return `${head} ${JSON.stringify(readlinkSync(join(root, rel)))}`;
  if (kind === "c" || kind === "b") return `${head} ${info.rdev}`;
  return head;
}

const stamp = ({ info }: Entry) => `${info.ino} ${info.ctimeNs}`;

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

const digestOf = (contentLines: readonly string[]) => createHash("sha256").update(contentLines.join("\n")).digest("hex");

/** Hash the layer's files, write `manifestPath`, and return the layer's digest. */
export async function writeLayerManifest(layer: string, manifestPath: string): Promise<string> {
  const lines: string[] = [];
  const content: string[] = [];
  for (const entry of walk(layer)) {
    const part = statPart(layer, entry);
    const line = entry.info.isFile() ? `${part} ${await sha256OfFile(join(layer, entry.rel))}` : part;
    content.push(line);
    lines.push(`${line}\t${stamp(entry)}`);
  }
  await writeFile(manifestPath, `${lines.join("\n")}\n`);
  return digestOf(content);
}

/**
 * Why the layer is not what its manifest and digest record (the first difference), or undefined when it
 * is. A missing or altered manifest counts as a difference.
 */
export async function checkLayerManifest(layer: string, manifestPath: string, digest: string | undefined): Promise<string | undefined> {
  const text = await readFile(manifestPath, "utf8").catch(() => undefined);
  if (text === undefined) return "it has no manifest";
  const recorded = text.split("\n").filter(Boolean);
  const content = recorded.map((line) => line.slice(0, line.lastIndexOf("\t")));
  if (!digest || digestOf(content) !== digest) return "its manifest does not match the digest in meta.json";
  let entries: Entry[];
  try {
    entries = walk(layer);
  } catch (error) {
    return `it cannot be read (${(error as Error).message})`;
  }
  if (entries.length !== recorded.length) return `it holds ${entries.length} entries where the manifest records ${recorded.length}`;
  for (const [i, entry] of entries.entries()) {
    const line = recorded[i]!;
    const tab = line.lastIndexOf("\t");
    const expected = entry.info.isFile() ? line.slice(0, line.lastIndexOf(" ", tab)) : line.slice(0, tab);
    if (statPart(layer, entry) !== expected || stamp(entry) !== line.slice(tab + 1)) return `${entry.rel} changed since it was made`;
  }
  return undefined;
}
