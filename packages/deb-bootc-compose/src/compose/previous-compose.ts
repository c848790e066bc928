import { realpath } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pathExists } from "@debian-bootc/core";

/**
 * The last finished compose of the same name in the same output directory (what `latest-<name>` points
 * at), unless that is this compose; later phases take over its unchanged results (its OSTree commit, its
 * OCI layout) instead of making them again.
 */
export async function previousComposeDir(composeDir: string, name: string): Promise<string | undefined> {
  const link = join(dirname(composeDir), `latest-${name}`);
  if (!(await pathExists(link))) return undefined;
  const target = await realpath(link);
  return target === (await realpath(composeDir)) ? undefined : target;
}
