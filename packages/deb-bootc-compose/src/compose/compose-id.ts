import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";

/** `YYYYMMDD` of a date, in UTC (compose IDs must not depend on the host's time zone). */
export function composeDate(date: Date): string {
  return date.toISOString().slice(0, 10).replaceAll("-", "");
}

/** `<name>-<version>-<YYYYMMDD>.<n>` */
export function formatComposeId(name: string, version: string, date: string, n: number): string {
  return `${name}-${version}-${date}.${n}`;
}

export function parseComposeId(id: string): { name: string; version: string; date: string; n: number } | undefined {
  const match = /^(.+)-([^-]+)-(\d{8})\.(\d+)$/.exec(id);
  if (!match) return undefined;
  return { name: match[1]!, version: match[2]!, date: match[3]!, n: Number(match[4]) };
}

/**
 * Claim the next compose ID of the day in `outputDir` by creating its directory: n counts up from 0
 * past every existing compose of the same name, version and day. mkdir is atomic, so two composes
 * started at once get different IDs.
 */
export async function claimComposeDir(outputDir: string, name: string, version: string, now: Date): Promise<{ id: string; dir: string }> {
  await mkdir(outputDir, { recursive: true });
  const date = composeDate(now);
  const prefix = `${name}-${version}-${date}.`;
  let n = 0;
  for (const entry of await readdir(outputDir)) {
    if (!entry.startsWith(prefix)) continue;
    const parsed = parseComposeId(entry);
    if (parsed && parsed.name === name && parsed.version === version) n = Math.max(n, parsed.n + 1);
  }
  for (; ; n++) {
    const id = formatComposeId(name, version, date, n);
    const dir = join(outputDir, id);
    try {
      await mkdir(dir);
      return { id, dir };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
}
