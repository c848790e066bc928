import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

const hashes = new Map<string, Promise<string>>();

/**
 * SHA256 over the modules of one source folder (its .ts or built .js files, tests left out). Caches
 * keyed by it (cached root trees, reused OCI layouts) stop matching as soon as the code that makes
 * their content changes, with nobody having to remember to bump a version.
 */
export function moduleDirHash(dir: string): Promise<string> {
  let hash = hashes.get(dir);
  if (!hash) {
    hash = (async () => {
      const h = createHash("sha256");
      for (const name of (await readdir(dir)).sort()) {
        if (!/\.(js|ts)$/.test(name) || /\.d\.ts$/.test(name) || /\.test\.(js|ts)$/.test(name)) continue;
        h.update(name)
          .update("\0")
          .update(await readFile(join(dir, name)));
      }
      return h.digest("hex");
    })();
    hashes.set(dir, hash);
  }
  return hash;
}
