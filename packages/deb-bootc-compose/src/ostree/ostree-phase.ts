import { lstat, mkdir, realpath } from "node:fs/promises";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "@debian-bootc/core";
import type { Phase } from "../compose/phase-engine.js";
import { ROOTFS_STATE, type RootfsTree } from "../compose/phases.js";
import { IMAGES_STATE, type ImageRecord } from "../compose/shared-state.js";
import type { ComposeDefinition } from "../definition.js";
import { composeError } from "../errors.js";
import { ROOTFS_DETAILS_STATE, type RootfsDetails } from "../rootfs/rootfs-phase.js";
import { openTextLog } from "../rootfs/text-log.js";
import { commitTree } from "./commit.js";
import { runrootProfile } from "./runroot.js";

/** What the ostree phase leaves in the run's state: one commit per variant and arch. */
export const OSTREE_STATE = "ostree";
export interface OstreeCommitRecord {
  variant: string;
  arch: string;
  /** The compose's archive repository (compose/ostree/repo). */
  repo: string;
  ref: string;
  commit: string;
  parent?: string;
  changed: boolean;
  version: string;
  kver?: string;
}

/** The ref of a variant/arch: the definition's ostree.ref with {name} {version} {arch} {variant} filled in. */
export function ostreeRef(definition: ComposeDefinition, variant: string, arch: string): string {
  return definition.ostree.ref
    .replaceAll("{name}", definition.name)
    .replaceAll("{version}", definition.version)
    .replaceAll("{arch}", arch)
    .replaceAll("{variant}", variant);
}

/** Metadata keys the commits carry (read back by the boot marker and the boot test). */
export const COMMIT_COMPOSE_ID_KEY = "deb-bootc-compose.compose-id";

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** compose/ostree/repo of the last finished compose of the same name (the latest-<name> link), if any. */
async function previousRepo(composeDir: string, name: string): Promise<string | undefined> {
  const link = join(dirname(composeDir), `latest-${name}`);
  if (!(await exists(link))) return undefined;
  const target = await realpath(link);
  if (target === (await realpath(composeDir))) return undefined;
  const repo = join(target, "compose", "ostree", "repo");
  return (await exists(join(repo, "config"))) ? repo : undefined;
}

/**
 * The ostree phase: every tree committed to the compose's archive repository (compose/ostree/repo) on
 * its ref, with version and compose metadata, by the suite's own ostree in a deb-mock runroot. The
 * previous compose's commit is pulled first, so an unchanged tree reuses it ("no changes") and a
 * changed one gets it as parent.
 */
export const ostreePhase: Phase = {
  name: "ostree",
  async run(ctx) {
    const { definition } = ctx;
    if (!definition.outputs.includes("ostree")) return;
    const trees = ctx.state.get(ROOTFS_STATE) as RootfsTree[] | undefined;
    if (!trees?.length) throw composeError("PHASE_PREREQUISITE", "the ostree phase needs the rootfs phase's trees in the same compose");
    const details = (ctx.state.get(ROOTFS_DETAILS_STATE) as RootfsDetails[] | undefined) ?? [];
    const repo = join(ctx.composeDir, "compose", "ostree", "repo");
    const previous = await previousRepo(ctx.composeDir, definition.name);
    const records: OstreeCommitRecord[] = [];
    const log = await openTextLog(join(ctx.composeDir, "logs", "ostree-commands.log"));
    try {
      for (const tree of trees) {
        const ref = ostreeRef(definition, tree.variant, tree.arch);
        const kver = details.find((d) => d.variant === tree.variant && d.arch === tree.arch)?.kver;
        const started = Date.now();
        log.line(`commit ${tree.path} -> ${ref}`);
        const result = await commitTree({
          tree: tree.path,
          repo,
          ref,
          previousRepo: previous,
          subject: `${definition.name} ${definition.version} ${tree.variant} ${tree.arch} (${ctx.composeId})`,
          metadata: {
            version: definition.version,
            [COMMIT_COMPOSE_ID_KEY]: ctx.composeId,
            "deb-bootc-compose.name": definition.name,
            "deb-bootc-compose.variant": tree.variant,
            ...(kver ? { "ostree.linux": kver } : {}),
          },
          variantMetadata: { "ostree.bootable": "true" },
          profile: runrootProfile(definition.suite, tree.arch),
          logger: ctx.logger,
          signal: ctx.signal,
          onOutput: (c) => log.write(c),
        });
        const record: OstreeCommitRecord = {
          variant: tree.variant,
          arch: tree.arch,
          repo,
          ref,
          ...result,
          version: definition.version,
          kver,
        };
        records.push(record);
        ctx.logger.info(
          { ...record, durationMs: Date.now() - started, previousRepo: previous },
          result.changed ? "committed" : "no changes: the previous commit is reused",
        );
        await mkdir(join(ctx.composeDir, "compose", tree.variant, tree.arch), { recursive: true });
        await writeFileAtomic(
          join(ctx.composeDir, "compose", tree.variant, tree.arch, "ostree-commit.json"),
          `${JSON.stringify({ ...record, repo: "compose/ostree/repo" }, null, 2)}\n`,
        );
      }
    } finally {
      await log.close();
    }
    ctx.state.set(OSTREE_STATE, records);
    const images = (ctx.state.get(IMAGES_STATE) as ImageRecord[] | undefined) ?? [];
    for (const r of records)
      images.push({
        variant: r.variant,
        arch: r.arch,
        type: "ostree",
        path: "compose/ostree/repo",
        format: "ostree-archive",
        digest: r.commit,
      });
    ctx.state.set(IMAGES_STATE, images);
  },
};
