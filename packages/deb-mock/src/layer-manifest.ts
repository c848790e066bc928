import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "@debian-bootc/core";

/**
 * The content record of a build-dependency layer, kept next to it (bases/KEY/gen-TIME/deps/HASH/manifest):
 * one line per entry of the layer, sorted by path,
 *
 *   "PATH" TYPE MODE UID GID DETAIL<TAB>INO CTIME
 *
 * where DETAIL is a regular file's size and SHA256, or a symlink's target. The layer's digest is the SHA256 of the lines before the tabs: it names the
 * layer's content, owners and modes, and meta.json records it.
 *
 * Before reuse, the layer is checked against its manifest with one find(1) over it (no hashing, so a
 * warm build pays tens of milliseconds, not a read of hundreds of megabytes): the same entries with the same type, mode,
 * owners, size (and symlink target), and the same inode and change time. The kernel sets a change time
 * on every write, chmod, chown, link, rename and xattr change, and nobody without the host's clock can set
 * it back; so an entry with its recorded inode and change time holds the content that was hashed.
 */

/** One entry of a layer, as find(1) reports it: fast enough to check thousands of entries per build. */
interface Entry {
  rel: string;
  /** find's %y: d, f, l, c (an overlay whiteout), b, p, s. */
  kind: string;
  /** The checkable part of a manifest line: everything but a regular file's hash. */
  statPart: string;
  /** Inode and change time. */
  stamp: string;
}

const FIELDS = 9;

/** Every entry of the tree (the top directory as "."), sorted by path; never follows a symlink. */
async function listEntries(root: string): Promise<Entry[]> {
  // path, type, mode (with set-id bits), owner, group, size, link target, inode, change time
  const { stdout } = await run("find", [root, "-printf", "%P\\0%y\\0%m\\0%U\\0%G\\0%s\\0%l\\0%i\\0%C@\\0"], {
    debianPackage: "findutils",
  });
  const fields = stdout.split("\0");
  const entries: Entry[] = [];
  for (let i = 0; i + FIELDS <= fields.length; i += FIELDS) {
    const [path, kind, mode, uid, gid, size, target, ino, ctime] = fields.slice(i, i + FIELDS) as string[];
    const rel = path === "" ? "." : path!;
    const head = `${JSON.stringify(rel)} ${kind} ${mode} ${uid} ${gid}`;
    const statPart = kind === "f" ? `${head} ${size}` : kind === "l" ? `${head} ${JSON.stringify(target)}` : head;
    entries.push({ rel, kind: kind!, statPart, stamp: `${ino} ${ctime}` });
  }
  return entries.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

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
  for (const entry of await listEntries(layer)) {
    const line = entry.kind === "f" ? `${entry.statPart} ${await sha256OfFile(join(layer, entry.rel))}` : entry.statPart;
    content.push(line);
    lines.push(`${line}\t${entry.stamp}`);
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
    entries = await listEntries(layer);
  } catch (error) {
    return `it cannot be read (${(error as Error).message})`;
  }
  if (entries.length !== recorded.length) return `it holds ${entries.length} entries where the manifest records ${recorded.length}`;
  for (const [i, entry] of entries.entries()) {
    const line = recorded[i]!;
    const tab = line.lastIndexOf("\t");
    const expected = entry.kind === "f" ? line.slice(0, line.lastIndexOf(" ", tab)) : line.slice(0, tab);
    if (entry.statPart !== expected || entry.stamp !== line.slice(tab + 1)) return `${entry.rel} changed since it was made`;
  }
  return undefined;
}
