import { mkdir, readFile, symlink } from "node:fs/promises";
import { join } from "node:path";
import { defaultCacheDir } from "../../pkgset/cache-dir.js";

const example = new URL("../../../../../examples/minimal.yaml", import.meta.url).pathname;

/** The shipped minimal definition with its minimal variant only (both with `withStandard`), these outputs and nothing failable. */
export async function minimalVariantDefinition(outputs: string, { withStandard = false } = {}): Promise<string> {
  let text = await readFile(example, "utf8");
  if (!withStandard) text = text.replace(/\n {2}standard:\n(?: {4}.*\n)+/, "\n");
  text = text.replace(/^outputs: .*$/m, `outputs: ${outputs}`);
  return text.replace(/^failable: .*$/m, "");
}

/** A compose cache in dir with a rootfs cache of its own and the machine's .debs and indexes linked in. */
export async function cacheWithPrivateRootfs(dir: string): Promise<string> {
  const shared = await defaultCacheDir();
  const cacheDir = join(dir, "cache");
  await mkdir(join(shared, "debs"), { recursive: true });
  await mkdir(join(shared, "indexes"), { recursive: true });
  await mkdir(cacheDir);
  await symlink(join(shared, "debs"), join(cacheDir, "debs"));
  await symlink(join(shared, "indexes"), join(cacheDir, "indexes"));
  return cacheDir;
}
