import { createHash } from "node:crypto";
import { type Compression, compressionFromSuffix, decompress, iterateTar } from "@debian-bootc/debian";

/**
 * Is the source package prepared now the one the hub built under the same name and version? The hub
 * keeps one build per source and version (as Koji keeps one per NVR), so a changed source under a version
 * it has built already must be refused, never silently replaced by the old binaries.
 *
 * First by checksums: the files of the source package (not the .dsc, whose text follows from them) against
 * the files the hub recorded when the build was submitted. A source tree is packed reproducibly (see
 * materializeSource), so an unchanged tree gives the same tarball byte for byte on the same tools. When a
 * tree's tarball differs all the same (another dpkg, tar or xz packed it, or a compose before packing was
 * reproducible), the tarballs are compared by their content: member paths, file contents, the executable
 * bit and link targets; packing details (order, times, owners, compression) do not count.
 */

export interface SourceFileRef {
  name: string;
  sha256: string;
  size: number;
}

/** A file of the source package prepared now; `read` gives its bytes (for the comparison by content). */
export interface PreparedFile extends SourceFileRef {
  read?: () => AsyncIterable<Uint8Array>;
}

export interface SourceComparisonOptions {
  /** Compare tarballs whose checksums differ by their content (for sources packed here from a tree). */
  byContent: boolean;
  /** The bytes of a file the hub recorded (its artifact store). */
  readRecorded: (file: SourceFileRef) => AsyncIterable<Uint8Array>;
}

export type SourceVerdict =
  | { same: true; by: "checksums" | "contents" }
  /** `changes`: what differs, a line each (`debian/rules: content changed`, `src/new.c: added`). */
  | { same: false; changes: string[] };

const TARBALL = /^(.*\.tar)(\.[a-z0-9]+)?$/;

/** The file's key for pairing: a tarball without its compression suffix (so .tar.gz pairs with .tar.xz). */
function pairKey(name: string): string {
  return TARBALL.exec(name)?.[1] ?? name;
}

/** A member of a tarball as the comparison sees it. */
type Member = { kind: "file"; sha256: string; executable: boolean } | { kind: "link"; target: string } | { kind: "other"; type: string };

function describe(member: Member): string {
  if (member.kind === "file") return member.executable ? "executable file" : "file";
  if (member.kind === "link") return `link to ${member.target}`;
  return member.type;
}

/**
 * The members of a source tarball by path. The top folder of a native or upstream tarball
 * (`hello-1.0/`) is dropped, as dpkg-source drops it when unpacking; a .debian.tar has none. Folders are
 * left out: an empty folder does not make a different build.
 */
async function tarballMembers(name: string, data: AsyncIterable<Uint8Array>): Promise<Map<string, Member>> {
  const suffix = TARBALL.exec(name)?.[2] ?? "";
  const compression: Compression | undefined = compressionFromSuffix(suffix);
  if (compression === undefined || compression === "bzip2" || compression === "lzma")
    throw new Error(`${name}: a ${suffix} tarball cannot be read here`);
  const strip = !/\.debian\.tar(\.[a-z0-9]+)?$/.test(name);
  const members = new Map<string, Member>();
  for await (const { entry, body } of iterateTar(decompress(data, compression, { source: name }), {
    source: name,
    keepBody: (e) => e.type === "file",
    maxBodySize: 512 * 1024 * 1024,
  })) {
    let path = entry.path.replace(/^\.\//, "").replace(/\/+$/, "");
    if (strip) path = path.includes("/") ? path.slice(path.indexOf("/") + 1) : "";
    if (path === "" || entry.type === "directory") continue;
    if (entry.type === "file")
      members.set(path, {
        kind: "file",
        sha256: createHash("sha256")
          .update(body ?? Buffer.alloc(0))
          .digest("hex"),
        executable: (entry.mode & 0o111) !== 0,
      });
    else if (entry.type === "symlink" || entry.type === "hardlink") members.set(path, { kind: "link", target: entry.linkTarget ?? "" });
    else members.set(path, { kind: "other", type: entry.type });
  }
  return members;
}

/** Per-path differences between two tarballs' members: prepared (now) against recorded (the hub's). */
function memberChanges(prepared: Map<string, Member>, recorded: Map<string, Member>): string[] {
  const changes: string[] = [];
  for (const path of [...new Set([...prepared.keys(), ...recorded.keys()])].sort()) {
    const now = prepared.get(path);
    const then = recorded.get(path);
    if (!then) changes.push(`${path}: added`);
    else if (!now) changes.push(`${path}: removed`);
    else if (now.kind === "file" && then.kind === "file") {
      if (now.sha256 !== then.sha256) changes.push(`${path}: content changed`);
      else if (now.executable !== then.executable) changes.push(`${path}: ${now.executable ? "now executable" : "no longer executable"}`);
    } else if (describe(now) !== describe(then)) changes.push(`${path}: ${describe(then)} -> ${describe(now)}`);
  }
  return changes;
}

/** Compare the source package prepared now with the files the hub recorded for its build. */
export async function compareSource(
  prepared: readonly PreparedFile[],
  recorded: readonly SourceFileRef[],
  options: SourceComparisonOptions,
): Promise<SourceVerdict> {
  const ours = new Map(prepared.filter((f) => !f.name.endsWith(".dsc")).map((f) => [pairKey(f.name), f]));
  const theirs = new Map(recorded.filter((f) => !f.name.endsWith(".dsc")).map((f) => [pairKey(f.name), f]));
  const changes: string[] = [];
  let byContent = false;
  for (const key of [...new Set([...ours.keys(), ...theirs.keys()])].sort()) {
    const now = ours.get(key);
    const then = theirs.get(key);
    if (!then) {
      changes.push(`${now!.name}: not in the hub's build`);
      continue;
    }
    if (!now) {
      changes.push(`${then.name}: in the hub's build, not in this source`);
      continue;
    }
    if (now.sha256 === then.sha256) continue;
    if (!options.byContent || !now.read || !TARBALL.test(now.name) || !TARBALL.test(then.name)) {
      changes.push(`${now.name}: SHA256 ${now.sha256}, the hub's ${then.name} has ${then.sha256}`);
      continue;
    }
    let members: string[];
    try {
      members = memberChanges(await tarballMembers(now.name, now.read()), await tarballMembers(then.name, options.readRecorded(then)));
    } catch (error) {
      changes.push(
        `${now.name}: SHA256 ${now.sha256} differs from the hub's ${then.sha256}, and the contents cannot be compared: ${(error as Error).message}`,
      );
      continue;
    }
    if (members.length > 0) changes.push(...members);
    else byContent = true;
  }
  if (changes.length > 0) return { same: false, changes };
  return { same: true, by: byContent ? "contents" : "checksums" };
}
