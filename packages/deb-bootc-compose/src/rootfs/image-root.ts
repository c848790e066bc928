import { randomBytes } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { chmod, lchown, lstat, mkdir, open, readdir, readlink, rename, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { composeError } from "../errors.js";

/**
 * The one way the compose writes into (and reads from) an image root on the host. A path is an in-image
 * path ("/etc/fstab", "usr/lib/x": the same) resolved component by component with lstat the way a
 * process chrooted into the tree would see it: `..` stops at the root, and a symlink's target is read
 * and resolved again from the root (absolute) or from its directory (relative), never on the host. The
 * final component is not followed by writes: a file written over a symlink replaces the link (written
 * to a temporary name with O_CREAT|O_EXCL|O_NOFOLLOW, then renamed), and chown/rename/remove act on the
 * link itself.
 *
 * The tree is not changed by anything else while the compose works on it (no program of the image runs
 * at the same time), so a resolved path stays valid until it is used.
 *
 * Owners: in a tree made in a user namespace, the image's ids are shifted by a subordinate range on
 * disk (`ids`); everything written here gets its in-image owner shifted the same way, and owners read
 * back are shifted back (imageOwner).
 */

/** The host ids the image's uid 0 and gid 0 map to, and how many ids follow (a subordinate range). */
export interface IdShift {
  uid: number;
  gid: number;
  count: number;
}

export interface Owner {
  uid: number;
  gid: number;
}

/** A file's in-image owner as it is stored on the host (identity without a shift). */
export function hostOwner(shift: IdShift | undefined, owner: Owner): Owner {
  if (!shift) return owner;
  if (owner.uid >= shift.count || owner.gid >= shift.count) {
    throw composeError(
      "IMAGE_PATH_UNRESOLVABLE",
      `owner ${owner.uid}:${owner.gid} is outside the image's id range (0-${shift.count - 1} maps to ${shift.uid}-${shift.uid + shift.count - 1})`,
    );
  }
  return { uid: shift.uid + owner.uid, gid: shift.gid + owner.gid };
}

/**
 * The in-image owner of a file stored on the host. Ids outside the range (files made by the host's own
 * root in a shifted tree) are kept as they are; no image file should have one.
 */
export function imageOwner(shift: IdShift | undefined, owner: Owner): Owner {
  if (!shift) return owner;
  const back = (id: number, first: number) => (id >= first && id < first + shift.count ? id - first : id);
  return { uid: back(owner.uid, shift.uid), gid: back(owner.gid, shift.gid) };
}

const MAX_SYMLINKS = 40; // Linux's own limit (ELOOP)
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY } = constants;

function components(path: string): string[] {
  return path.split("/").filter((c) => c !== "" && c !== ".");
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

export interface WriteOptions {
  /** Permission bits (default 0644); applied exactly, without the umask. */
  mode?: number;
  /** In-image owner (default root:root). */
  owner?: Owner;
}

export class ImageRoot {
  /** The tree's directory on the host. */
  readonly root: string;
  readonly ids?: IdShift;

  constructor(root: string, options: { ids?: IdShift } = {}) {
    this.root = root;
    this.ids = options.ids;
  }

  /** An in-image owner as stored on disk. */
  hostOwner(owner: Owner): Owner {
    return hostOwner(this.ids, owner);
  }

  /** The in-image owner of a file's host stat. */
  imageOwner(st: Pick<Stats, "uid" | "gid">): Owner {
    return imageOwner(this.ids, { uid: st.uid, gid: st.gid });
  }

  private fail(path: string, why: string): never {
    throw composeError("IMAGE_PATH_UNRESOLVABLE", `${path} in the image tree ${this.root}: ${why}`);
  }

  /**
   * The components of `path` with every symlink resolved inside the root (the final one only when
   * `followFinal`). Every component but the last is a real directory of the tree, or missing; with
   * `createDirectories` missing directories are made (0755, owned by the image's root).
   */
  private async resolve(path: string, options: { followFinal: boolean; createDirectories?: boolean }): Promise<string[]> {
    const done: string[] = [];
    const todo = components(path);
    let links = 0;
    let missing = false;
    while (todo.length > 0) {
      const name = todo.shift()!;
      if (name === "..") {
        done.pop();
        continue;
      }
      const last = todo.length === 0;
      if (missing) {
        done.push(name);
        continue;
      }
      const host = join(this.root, ...done, name);
      let st: Stats;
      try {
        st = await lstat(host);
      } catch (error) {
        if (code(error) !== "ENOENT") throw error;
        if (!last && options.createDirectories) {
          await this.makeDirectory(host, 0o755);
          done.push(name);
          continue;
        }
        missing = true;
        done.push(name);
        continue;
      }
      if (st.isSymbolicLink() && (!last || options.followFinal)) {
        if (++links > MAX_SYMLINKS) this.fail(path, "too many levels of symbolic links");
        const target = await readlink(host);
        if (target.startsWith("/")) done.length = 0;
        todo.unshift(...components(target));
        continue;
      }
      if (!last && !st.isDirectory()) this.fail(path, `/${[...done, name].join("/")} is not a directory`);
      done.push(name);
    }
    return done;
  }

  private async makeDirectory(host: string, mode: number, owner: Owner = { uid: 0, gid: 0 }): Promise<void> {
    await mkdir(host);
    const { uid, gid } = this.hostOwner(owner);
    await lchown(host, uid, gid);
    await chmod(host, mode); // exactly, without the umask (and after chown, which clears setgid)
  }

  /** The host path of an in-image path, every symlink resolved inside the tree (the final one too unless followFinal is false). */
  async hostPath(path: string, options: { followFinal?: boolean } = {}): Promise<string> {
    return join(this.root, ...(await this.resolve(path, { followFinal: options.followFinal ?? true })));
  }

  /** What is at a path, the final symlink not followed (undefined: nothing). */
  async kind(path: string): Promise<"file" | "directory" | "symlink" | "other" | undefined> {
    const st = await this.lstat(path);
    if (!st) return undefined;
    return st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : st.isFile() ? "file" : "other";
  }

  /** lstat of the final component (undefined when missing). */
  async lstat(path: string): Promise<Stats | undefined> {
    try {
      return await lstat(await this.hostPath(path, { followFinal: false }));
    } catch (error) {
      if (code(error) === "ENOENT" || code(error) === "ENOTDIR") return undefined;
      throw error;
    }
  }

  /** The target of the symlink at `path`. */
  async readlink(path: string): Promise<string> {
    return readlink(await this.hostPath(path, { followFinal: false }));
  }

  /** A directory's entries in byte order; none when it does not exist. */
  async list(path: string): Promise<string[]> {
    try {
      return (await readdir(await this.hostPath(path))).sort();
    } catch (error) {
      if (code(error) === "ENOENT" || code(error) === "ENOTDIR") return [];
      throw error;
    }
  }

  /** A file's content (symlinks followed inside the tree), or undefined when it does not exist. */
  async readFile(path: string): Promise<Buffer | undefined> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(await this.hostPath(path), O_RDONLY | O_NOFOLLOW);
    } catch (error) {
      if (code(error) === "ENOENT" || code(error) === "ENOTDIR") return undefined;
      throw error;
    }
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async readText(path: string): Promise<string | undefined> {
    return (await this.readFile(path))?.toString("utf8");
  }

  /** `mkdir -p` inside the tree; new directories get `mode` and the in-image owner (default root). Returns the host path. */
  async mkdirs(path: string, options: WriteOptions = {}): Promise<string> {
    const parts = await this.resolve(path, { followFinal: true, createDirectories: true });
    const host = join(this.root, ...parts);
    const st = await lstat(host).catch((error: unknown) => {
      if (code(error) === "ENOENT") return undefined;
      throw error;
    });
    if (!st) await this.makeDirectory(host, options.mode ?? 0o755, options.owner);
    else if (!st.isDirectory()) this.fail(path, "exists and is not a directory");
    return host;
  }

  /** The host path of the final entry of `path`, its parent directories created. */
  private async placeFor(path: string): Promise<string> {
    const parts = await this.resolve(path, { followFinal: false, createDirectories: true });
    if (parts.length === 0) this.fail(path, "is the root itself");
    return join(this.root, ...parts);
  }

  /**
   * Write a file (parents created): a new file is made under a temporary name that must not exist
   * (O_EXCL|O_NOFOLLOW), given its owner and mode, and renamed over the path, so a symlink or a file
   * (a hard link shared with a cached tree, too) at the path is replaced, never written through.
   */
  async writeFile(path: string, data: string | Uint8Array, options: WriteOptions = {}): Promise<void> {
    const host = await this.placeFor(path);
    if ((await lstat(host).catch(() => undefined))?.isDirectory()) this.fail(path, "is a directory");
    const temp = join(host, "..", `.deb-bootc-compose-${randomBytes(6).toString("hex")}`);
    const mode = options.mode ?? 0o644;
    const handle = await open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      try {
        await handle.writeFile(data);
        const { uid, gid } = this.hostOwner(options.owner ?? { uid: 0, gid: 0 });
        await handle.chown(uid, gid);
        await handle.chmod(mode);
      } finally {
        await handle.close();
      }
      await rename(temp, host);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  /** Make a symlink at `path` (parents created; an existing entry is an error unless `replace`). */
  async symlink(target: string, path: string, options: { owner?: Owner; replace?: boolean } = {}): Promise<void> {
    const host = await this.placeFor(path);
    if (options.replace) await rm(host, { force: true });
    await symlink(target, host);
    const { uid, gid } = this.hostOwner(options.owner ?? { uid: 0, gid: 0 });
    await lchown(host, uid, gid);
  }

  /** Set the in-image owner of the entry at `path` itself (a symlink is not followed). */
  async chown(path: string, owner: Owner): Promise<void> {
    const { uid, gid } = this.hostOwner(owner);
    await lchown(await this.hostPath(path, { followFinal: false }), uid, gid);
  }

  /** chmod of a file or directory; refused on a symlink (Linux cannot change a link's mode). */
  async chmod(path: string, mode: number): Promise<void> {
    const host = await this.hostPath(path, { followFinal: false });
    const handle = await open(host, O_RDONLY | O_NOFOLLOW).catch((error: unknown) => {
      if (code(error) === "ELOOP") this.fail(path, "is a symlink; its mode cannot be set");
      throw error;
    });
    try {
      await handle.chmod(mode);
    } finally {
      await handle.close();
    }
  }

  /** Rename an entry (not following a final symlink on either side); the target's parents are created. */
  async rename(from: string, to: string): Promise<void> {
    const source = await this.hostPath(from, { followFinal: false });
    if (source === this.root) this.fail(from, "is the root itself");
    await rename(source, await this.placeFor(to));
  }

  /** Remove an entry (recursively; a symlink is removed, not followed). Nothing there is fine. */
  async remove(path: string): Promise<void> {
    const host = await this.hostPath(path, { followFinal: false });
    if (host === this.root) this.fail(path, "is the root itself");
    await rm(host, { recursive: true, force: true });
  }

  /**
   * Make `path` an empty directory: its entries removed when it is one; anything else there (a symlink
   * a package planted, a file) removed and a directory of `mode` made in its place.
   */
  async emptyDirectory(path: string, mode = 0o755): Promise<void> {
    const host = await this.hostPath(path, { followFinal: false });
    if (host === this.root) this.fail(path, "is the root itself");
    const st = await lstat(host).catch(() => undefined);
    if (st?.isDirectory()) {
      for (const name of await readdir(host)) await rm(join(host, name), { recursive: true, force: true });
      return;
    }
    if (st) await rm(host, { force: true });
    await this.mkdirs(path, { mode });
  }
}
