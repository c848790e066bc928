import { lstat, readdir } from "node:fs/promises";

/** What is at a path in an image tree, without following symlinks (undefined: nothing). */
export async function pathKind(path: string): Promise<"file" | "directory" | "symlink" | "other" | undefined> {
  try {
    const st = await lstat(path);
    return st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : st.isFile() ? "file" : "other";
  } catch {
    return undefined;
  }
}

/** A directory's entries in sorted order; none when it does not exist. */
export async function listSorted(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch {
    return [];
  }
}
