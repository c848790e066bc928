// Test support (not shipped): scratch directories that clean up after themselves.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";

/**
 * A fresh directory under the system's temporary directory for each test of the enclosing describe
 * block or file (`"all"`: one for all of them), removed afterwards. Returns its path's getter, for use
 * inside tests and hooks.
 */
export function useTempDir(prefix: string, scope: "each" | "all" = "each"): () => string {
  let dir: string | undefined;
  (scope === "each" ? beforeEach : beforeAll)(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  (scope === "each" ? afterEach : afterAll)(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return () => {
    if (dir === undefined) throw new Error("useTempDir: the directory exists only inside tests and their hooks");
    return dir;
  };
}
