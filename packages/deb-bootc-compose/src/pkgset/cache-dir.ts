import { access, constants, mkdir } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * The cache shared by composes on one machine (package indexes keyed by SHA256, .debs by SHA256):
 * $DEB_BOOTC_COMPOSE_CACHE, else /var/cache/deb-bootc-compose when it is writable (root), else
 * $XDG_CACHE_HOME/deb-bootc-compose (~/.cache/deb-bootc-compose).
 */
export async function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.DEB_BOOTC_COMPOSE_CACHE) return env.DEB_BOOTC_COMPOSE_CACHE;
  const system = "/var/cache/deb-bootc-compose";
  try {
    await mkdir(system, { recursive: true });
    await access(system, constants.W_OK);
    return system;
  } catch {
    // not root: the user's cache
  }
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "deb-bootc-compose");
}
