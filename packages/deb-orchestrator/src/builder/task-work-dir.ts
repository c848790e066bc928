import { constants } from "node:fs";
import { lstat, mkdir, open, readdir, readFile, realpath, rm } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { currentProcessOwner, isOwnerAlive, type Logger, run, silentLogger, writeFileAtomic } from "@debian-bootc/core";
import { z } from "zod";

/*
 * A task's work directory W (WORK_DIR/task-ID-SESSION) holds its sources and results, or a compose's
 * image work (GBs, and mounts while the command runs). The builder removes it when the task ends; a
 * builder killed in the middle cannot, so W/owner.json names the process that made it (written before
 * anything else, with its start time and boot), and any builder sharing WORK_DIR removes a W whose owner
 * is gone: at its start and before each task. Builders may share WORK_DIR, so W of a live owner,
 * or of one this builder cannot judge (another PID namespace), is left alone.
 */

const ownerFile = "owner.json";
/** A W without a mark is one whose builder was killed between mkdir and the mark; its mtime shows when. */
const UNMARKED_GRACE_MS = 60_000;

const processOwner = z.object({
  pid: z.number().int().positive(),
  pidStart: z.string(),
  boot: z.string().optional(),
  pidNamespace: z.string().optional(),
});

/** Make W (it must not exist yet) and mark it as this process's, before anything is written into it. */
export async function makeTaskWorkDir(dir: string): Promise<void> {
  await mkdir(dirname(dir), { recursive: true });
  await mkdir(dir, { mode: 0o700 });
  await writeFileAtomic(join(dir, ownerFile), `${JSON.stringify(await currentProcessOwner())}\n`);
}

/** W's recorded owner; undefined when W has no readable mark (O_NOFOLLOW: a symlink is not one). */
async function readOwner(dir: string): Promise<z.output<typeof processOwner> | undefined> {
  try {
    const handle = await open(join(dir, ownerFile), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const parsed = processOwner.safeParse(JSON.parse(await readFile(handle, "utf8")));
      return parsed.success ? parsed.data : undefined;
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

/** Whether W is left behind by a builder that is gone. */
async function isStale(dir: string): Promise<boolean> {
  const owner = await readOwner(dir);
  if (owner) return !(await isOwnerAlive(owner));
  const stat = await lstat(dir).catch(() => undefined);
  return stat !== undefined && Date.now() - stat.mtimeMs >= UNMARKED_GRACE_MS;
}

/**
 * Remove every W under workDir whose owner is gone (mounts in it detached first); symlinks, in workDir
 * or in W, are never followed. Returns the directories removed.
 */
export async function sweepStaleTaskWorkDirs(workDir: string, logger: Logger = silentLogger): Promise<string[]> {
  const entries = await readdir(workDir, { withFileTypes: true }).catch(() => []);
  const removed: string[] = [];
  for (const entry of entries) {
    if (!entry.name.startsWith("task-") || !entry.isDirectory()) continue;
    const dir = join(workDir, entry.name);
    if (!(await isStale(dir))) continue;
    logger.info({ dir }, "removing the work directory of a builder that is gone");
    if (await removeTaskWorkDir(dir, logger)) removed.push(dir);
  }
  return removed;
}

/** Mount points at or under dir in this mount namespace, deepest first (mountinfo escapes spaces as \040). */
async function mountsUnder(dir: string): Promise<string[]> {
  const root = await realpath(dir).catch(() => resolve(dir));
  const info = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  return info
    .split("\n")
    .map((line) => line.split(" ")[4]?.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))))
    .filter((point): point is string => point !== undefined && (point === root || point.startsWith(`${root}${sep}`)))
    .sort((a, b) => b.length - a.length);
}

/**
 * Remove W. A command killed before it could clean up may have left mounts in it: they are detached
 * first, so removing W never reaches into a mounted tree; if one cannot be, W stays (and is logged).
 * Returns whether W is gone.
 */
export async function removeTaskWorkDir(dir: string, logger?: Logger): Promise<boolean> {
  for (const point of await mountsUnder(dir)) {
    try {
      await run("umount", ["--lazy", point], { debianPackage: "mount" });
    } catch (error) {
      logger?.error({ dir, mount: point, err: (error as Error).message }, "a mount is left in a task's work directory; not removing it");
      return false;
    }
  }
  await rm(dir, { recursive: true, force: true });
  return true;
}
