import { mkdir, readFile, realpath, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pathExists, run, writeFileAtomic } from "@debian-bootc/core";
import type { PhaseContext } from "./phase-engine.js";

/**
 * The last finished compose of the same name in the same output directory (what `latest-<name>` points
 * at), unless that is this compose; later phases take over its unchanged results (its OSTree commit, its
 * OCI layout, its disk images) instead of making them again.
 */
export async function previousComposeDir(composeDir: string, name: string): Promise<string | undefined> {
  const link = join(dirname(composeDir), `latest-${name}`);
  if (!(await pathExists(link))) return undefined;
  const target = await realpath(link);
  return target === (await realpath(composeDir)) ? undefined : target;
}

/** What a phase records beside outputs it may hand on: the key they were made from, and what it wants back. */
export interface OutputsRecord {
  key: string;
  reusedFrom?: string;
}

/**
 * Take over outputs of the previous compose that were made from the very same inputs: `keyFile` (a path
 * relative to a compose directory) records the key they were made from; when the previous compose's
 * record has `key`, each output (relative paths) is copied from it with hard links (`cp -a --link`; no
 * phase modifies these files in place, and the boot test boots an overlay), then the record is written
 * here too with `reusedFrom`. Returns the previous record and the compose ID it came from, or undefined
 * when nothing can be taken over (and then nothing of it is left here).
 */
export async function takeOverPrevious<T extends OutputsRecord>(
  ctx: Pick<PhaseContext, "composeDir" | "definition" | "logger" | "signal">,
  keyFile: string,
  key: string,
  outputs: readonly string[],
): Promise<{ record: T; from: string } | undefined> {
  const previous = await previousComposeDir(ctx.composeDir, ctx.definition.name);
  if (!previous) return undefined;
  const record = await readFile(join(previous, keyFile), "utf8").then(
    (t) => JSON.parse(t) as T,
    () => undefined,
  );
  if (record?.key !== key) return undefined;
  for (const output of outputs) {
    const to = join(ctx.composeDir, output);
    await rm(to, { recursive: true, force: true });
    await mkdir(dirname(to), { recursive: true });
    try {
      await run("cp", ["-a", "--link", "--", join(previous, output), to], { signal: ctx.signal, logger: ctx.logger });
    } catch (error) {
      ctx.logger.info({ output, error: (error as Error).message }, "the previous compose's output cannot be copied: making it");
      for (const o of outputs) await rm(join(ctx.composeDir, o), { recursive: true, force: true });
      return undefined;
    }
  }
  const from = basename(previous);
  await recordOutputs(ctx.composeDir, keyFile, { ...record, reusedFrom: from });
  return { record, from };
}

/** Record what outputs were made from (last, once they are whole: a compose killed before never offers them). */
export async function recordOutputs<T extends OutputsRecord>(composeDir: string, keyFile: string, record: T): Promise<void> {
  await mkdir(dirname(join(composeDir, keyFile)), { recursive: true });
  await writeFileAtomic(join(composeDir, keyFile), `${JSON.stringify(record)}\n`);
}
