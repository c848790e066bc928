import { lstat, stat } from "node:fs/promises";

/**
 * Whether anything is at `path`: a symbolic link counts as itself (even a dangling one) unless
 * `followLinks` asks whether its target exists.
 */
export async function pathExists(path: string, options: { followLinks?: boolean } = {}): Promise<boolean> {
  return (options.followLinks ? stat : lstat)(path).then(
    () => true,
    () => false,
  );
}
