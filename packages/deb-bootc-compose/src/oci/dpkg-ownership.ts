import { lstat, readlink } from "node:fs/promises";
import { join, posix } from "node:path";
import { ImageRoot } from "../rootfs/image-root.js";

/** Where dpkg keeps its database in a root: the classic place, or the one an ostree image moves it to. */
export const DPKG_DATABASE_DIRS = ["var/lib/dpkg", "usr/lib/sysimage/dpkg"] as const;

export interface DpkgOwnership {
  /** Relative path ("usr/bin/ls") -> owning package name (without :arch). */
  owner: Map<string, string>;
  /** Every installed package with a file list, sorted. */
  packages: string[];
  /** The database directory found, relative to the root. */
  databaseDir: string | undefined;
}

/**
 * Resolve a path as the running system would, following symlinked directories inside the root (never
 * out of it), so `/bin/ls` from a package list maps to `usr/bin/ls` on a merged-/usr system. The last
 * component is not followed.
 */
export async function canonicalPath(root: string, path: string, cache: Map<string, string> = new Map()): Promise<string> {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  let resolved: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, part].join("/");
    if (i === parts.length - 1) {
      resolved.push(part);
      break;
    }
    let target = cache.get(candidate);
    if (target === undefined) {
      target = candidate;
      for (let hops = 0; hops < 16; hops++) {
        let link: string;
        try {
          const st = await lstat(join(root, target));
          if (!st.isSymbolicLink()) break;
          link = await readlink(join(root, target));
        } catch {
          break;
        }
        const base: string = link.startsWith("/") ? link : posix.join(posix.dirname(`/${target}`), link);
        target = posix.normalize(base).replace(/^\/+/, "");
        if (target.startsWith("..")) target = target.replace(/^(\.\.\/?)+/, "");
      }
      cache.set(candidate, target);
    }
    resolved = target === "" ? [] : target.split("/");
  }
  return resolved.join("/");
}

/**
 * Read dpkg's file lists (`info/*.list`) and map each listed path, made canonical in the root, to its
 * package. Paths listed by several packages (shared directories) keep the first package in name order;
 * each package's own database files (`info/PKG.*`) are attributed to it too, so an upgrade of one
 * package touches that package's layer rather than a shared one.
 */
export async function readDpkgOwnership(root: string): Promise<DpkgOwnership> {
  const owner = new Map<string, string>();
  // read through ImageRoot: a database directory that is a link leads to the image's files, never the host's
  const tree = new ImageRoot(root);
  let databaseDir: string | undefined;
  for (const dir of DPKG_DATABASE_DIRS) {
    if ((await tree.kind(`${dir}/info`)) === "directory") {
      databaseDir = dir;
      break;
    }
  }
  if (databaseDir === undefined) return { owner, packages: [], databaseDir };
  const infoDir = `${databaseDir}/info`;
  const infoFiles = await tree.list(infoDir);
  const packages = new Set<string>();
  const cache = new Map<string, string>();
  for (const file of infoFiles) {
    const match = /^([^:]+?)(?::[^.]+)?\.list$/.exec(file);
    if (!match) continue;
    const pkg = match[1]!;
    packages.add(pkg);
    const text = (await tree.readText(`${infoDir}/${file}`)) ?? "";
    for (const line of text.split("\n")) {
      if (line === "" || line === "/.") continue;
      const path = await canonicalPath(root, line, cache);
      if (path !== "" && !owner.has(path)) owner.set(path, pkg);
    }
  }
  for (const file of infoFiles) {
    const dot = file.lastIndexOf(".");
    const pkg = dot > 0 ? file.slice(0, dot).replace(/:[^:]*$/, "") : undefined;
    if (pkg !== undefined && packages.has(pkg)) owner.set(`${databaseDir}/info/${file}`, pkg);
  }
  return { owner, packages: [...packages].sort(), databaseDir };
}
