import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "@debian-bootc/core";
import { z } from "zod";
import { composeError } from "../errors.js";
import type { IndexPackage } from "./repository-index.js";
import type { Pin } from "./resolver.js";

/**
 * The lockfile a snapshot-repo phase writes (compose/metadata/lockfile.json) and `--lockfile` reads back:
 * every package of the compose with name, version, architecture and SHA256, and which variant/arch
 * sets hold it. Fed back, each listed package is pinned to that exact version and content.
 */

export const LOCKFILE_VERSION = 1;

const entrySchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/),
  version: z.string().min(1),
  arch: z.string().regex(/^[a-z0-9-]+$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  source: z.string().optional(),
});

const lockfileSchema = z.object({
  lockfileVersion: z.literal(LOCKFILE_VERSION),
  compose: z.string().optional(),
  suite: z.string().optional(),
  packages: z.array(entrySchema),
  /** variant -> arch -> package names */
  sets: z.record(z.string(), z.record(z.string(), z.array(z.string()))).default({}),
});

export type LockEntry = z.output<typeof entrySchema>;
export type Lockfile = z.output<typeof lockfileSchema>;

/** Build a lockfile from resolved sets (variant -> arch -> packages). */
export function makeLockfile(
  sets: ReadonlyMap<string, ReadonlyMap<string, readonly IndexPackage[]>>,
  meta: { compose?: string; suite?: string } = {},
): Lockfile {
  const entries = new Map<string, LockEntry>();
  const names: Record<string, Record<string, string[]>> = {};
  for (const [variant, byArch] of sets) {
    names[variant] = {};
    for (const [arch, packages] of byArch) {
      names[variant]![arch] = packages.map((p) => p.name);
      for (const p of packages) {
        const key = `${p.name}_${p.version}_${p.architecture}`;
        if (!entries.has(key))
          entries.set(key, { name: p.name, version: p.version, arch: p.architecture, sha256: p.sha256, source: p.source });
      }
    }
  }
  const packages = [...entries.values()].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0,
  );
  return { lockfileVersion: LOCKFILE_VERSION, ...meta, packages, sets: names };
}

export function lockfileText(lock: Lockfile): string {
  return `${JSON.stringify(lock, null, 2)}\n`;
}

export async function writeLockfile(path: string, lock: Lockfile): Promise<void> {
  await writeFileAtomic(path, lockfileText(lock));
}

export function parseLockfile(text: string, source: string): Lockfile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw composeError("LOCKFILE_INVALID", `${source}: not JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = lockfileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw composeError("LOCKFILE_INVALID", `${source}: ${issue.path.join(".") || "(top level)"}: ${issue.message}`, {
      hint: `expected a lockfile written by deb-bootc-compose (lockfileVersion ${LOCKFILE_VERSION})`,
      details: { file: source, path: issue.path },
    });
  }
  const seen = new Map<string, string>();
  for (const e of parsed.data.packages) {
    const key = `${e.name}:${e.arch}`;
    const prior = seen.get(key);
    if (prior !== undefined && prior !== e.version) {
      throw composeError("LOCKFILE_INVALID", `${source}: ${e.name} (${e.arch}) is locked to two versions, ${prior} and ${e.version}`, {
        details: { file: source, package: e.name },
      });
    }
    seen.set(key, e.version);
  }
  return parsed.data;
}

export async function readLockfile(path: string): Promise<Lockfile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw composeError("LOCKFILE_INVALID", `${path}: ${(error as Error).message}`, { cause: error });
  }
  return parseLockfile(text, path);
}

export function lockfilePins(lock: Lockfile): Pin[] {
  return lock.packages.map((e) => ({ name: e.name, version: e.version, arch: e.arch, sha256: e.sha256 }));
}
