import { createHash } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pathExists, writeFileAtomic } from "@debian-bootc/core";
import type { Phase, PhaseContext } from "../compose/phase-engine.js";
import { previousComposeDir } from "../compose/previous-compose.js";
import type { ComposeDefinition } from "../definition.js";
import { composeError } from "../errors.js";
import { signCommit } from "../publish/publish.js";
import { updateSigningKey } from "../publish/signing-key.js";
import { handBackToCaller } from "../rootfs/chroot.js";
import { openTextLog } from "../rootfs/text-log.js";
import { canonicalJson } from "../rootfs/tree-key.js";
import { commitTree, reuseCommit } from "./commit.js";
import { runrootProfile } from "./runroot.js";

/** What the ostree phase leaves in the run's state: one commit per variant and arch. */
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
  /** The rootfs tree key and tree ID the commit was made from (absent for an unkeyed tree). */
  treeKey?: string;
  treeId?: string;
  /** Hash of what the commit holds: the tree ID, the ref and the metadata except the compose ID. */
  commitKey?: string;
  /** The compose whose commit was taken over without committing (same tree, same metadata). */
  reusedFrom?: string;
}

/** compose/<variant>/<arch>/ostree-commit.json: the commit's record, read by the next compose. */
export async function writeCommitRecord(composeDir: string, record: OstreeCommitRecord): Promise<void> {
  await mkdir(join(composeDir, "compose", record.variant, record.arch), { recursive: true });
  await writeFileAtomic(
    join(composeDir, "compose", record.variant, record.arch, "ostree-commit.json"),
    `${JSON.stringify({ ...record, repo: "compose/ostree/repo" }, null, 2)}\n`,
  );
}

/** The commits in the run's state, and as deliverables for the metadata. */
export function recordCommits(ctx: Pick<PhaseContext, "state">, records: OstreeCommitRecord[]): void {
  ctx.state.set("ostree", records);
  ctx.state.addImages(
    records.map((r) => ({
      variant: r.variant,
      arch: r.arch,
      type: "ostree",
      path: "compose/ostree/repo",
      format: "ostree-archive",
      digest: r.commit,
    })),
  );
}

/** The ref of a variant/arch: the definition's ostree.ref with {name} {version} {arch} {variant} filled in. */
export function ostreeRef(definition: ComposeDefinition, variant: string, arch: string): string {
  return fillRef(definition.ostree.ref, definition, variant, arch);
}

/** The update channel's ref of a variant/arch (updates.ref filled in), or undefined without a channel. */
export function channelRef(definition: ComposeDefinition, variant: string, arch: string): string | undefined {
  return definition.updates ? fillRef(definition.updates.ref, definition, variant, arch) : undefined;
}

function fillRef(template: string, definition: ComposeDefinition, variant: string, arch: string): string {
  return template
    .replaceAll("{name}", definition.name)
    .replaceAll("{version}", definition.version)
    .replaceAll("{arch}", arch)
    .replaceAll("{variant}", variant);
}

/** Metadata keys the commits carry (read back by the boot marker and the boot test). */
export const COMMIT_COMPOSE_ID_KEY = "deb-bootc-compose.compose-id";
export const COMMIT_TREE_KEY = "deb-bootc-compose.tree-key";
export const COMMIT_TREE_ID_KEY = "deb-bootc-compose.tree-id";

/** The last finished compose of the same name (the latest-<name> link) and its repository, if any. */
async function previousCompose(composeDir: string, name: string): Promise<{ dir: string; repo: string } | undefined> {
  const dir = await previousComposeDir(composeDir, name);
  if (!dir) return undefined;
  const repo = join(dir, "compose", "ostree", "repo");
  return (await pathExists(join(repo, "config"))) ? { dir, repo } : undefined;
}

/** The previous compose's ostree-commit.json of a variant/arch, if it has one. */
async function previousRecord(dir: string, variant: string, arch: string): Promise<OstreeCommitRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, "compose", variant, arch, "ostree-commit.json"), "utf8")) as OstreeCommitRecord;
  } catch {
    return undefined;
  }
}

/**
 * The previous compose's commit of a variant/arch on the ref this definition gives it, and that compose's
 * repository: what a commit made now chains on (an image task gets the checksum to record as its parent).
 */
export async function previousCommitOf(
  composeDir: string,
  definition: ComposeDefinition,
  variant: string,
  arch: string,
): Promise<{ commit: string; repo: string } | undefined> {
  const previous = await previousCompose(composeDir, definition.name);
  const last = previous ? await previousRecord(previous.dir, variant, arch) : undefined;
  if (!previous || last?.ref !== ostreeRef(definition, variant, arch) || !/^[0-9a-f]{64}$/.test(last.commit)) return undefined;
  return { commit: last.commit, repo: previous.repo };
}

/** What a commit holds besides its compose ID: the tree it was made from, its ref and its metadata. */
export function commitKeyOf(
  treeId: string,
  ref: string,
  metadata: Record<string, string>,
  variantMetadata: Record<string, string>,
  bindRefs: readonly string[] = [],
): string {
  const { [COMMIT_COMPOSE_ID_KEY]: _composeId, ...rest } = metadata;
  return createHash("sha256")
    .update(canonicalJson({ treeId, ref, metadata: rest, variantMetadata, ...(bindRefs.length ? { bindRefs } : {}) }))
    .digest("hex");
}

/**
 * The ostree phase: every tree committed to the compose's archive repository (compose/ostree/repo) on
 * its ref, with version and compose metadata, by the suite's own ostree in a deb-mock runroot. The
 * previous compose's commit is pulled first, so an unchanged tree reuses it ("no changes") and a
 * changed one gets it as parent. When the tree is the very one the previous compose committed (the
 * rootfs phase reused it from its cache: same tree ID) with the same ref and metadata, nothing is
 * committed: the previous commit is pulled into the repository as it is.
 */
export const ostreePhase: Phase = createOstreePhase();

export interface OstreePhaseOptions {
  /**
   * false: commits are left unsigned even with an updates section (an image task on a builder, where no
   * private key is; the client signs the commit it pulls). Default true.
   */
  sign?: boolean;
  /**
   * The commit a variant/arch's commit chains on when the previous compose is elsewhere (an image task: the
   * client's previous commit, by checksum): recorded as its parent instead of pulling the previous commit.
   */
  parentOf?: (variant: string, arch: string) => string | undefined;
}

export function createOstreePhase(options: OstreePhaseOptions = {}): Phase {
  return {
    name: "ostree",
    async run(ctx) {
      const { definition } = ctx;
      if (!definition.outputs.includes("ostree")) return;
      const trees = ctx.state.find("rootfs");
      if (!trees?.length) throw composeError("PHASE_PREREQUISITE", "the ostree phase needs the rootfs phase's trees in the same compose");
      const details = ctx.state.find("rootfs-details") ?? [];
      const repo = join(ctx.composeDir, "compose", "ostree", "repo");
      const previous = await previousCompose(ctx.composeDir, definition.name);
      const records: OstreeCommitRecord[] = [];
      const log = await openTextLog(join(ctx.composeDir, "logs", "ostree-commands.log"));
      try {
        for (const tree of trees) {
          const ref = ostreeRef(definition, tree.variant, tree.arch);
          const detail = details.find((d) => d.variant === tree.variant && d.arch === tree.arch);
          const kver = detail?.kver;
          const started = Date.now();
          const profile = runrootProfile(definition.suite, tree.arch);
          const metadata: Record<string, string> = {
            version: definition.version,
            [COMMIT_COMPOSE_ID_KEY]: ctx.composeId,
            "deb-bootc-compose.name": definition.name,
            "deb-bootc-compose.variant": tree.variant,
            ...(kver ? { "ostree.linux": kver } : {}),
            ...(detail?.key ? { [COMMIT_TREE_KEY]: detail.key } : {}),
            ...(detail?.treeId ? { [COMMIT_TREE_ID_KEY]: detail.treeId } : {}),
          };
          const variantMetadata = { "ostree.bootable": "true" };
          // bound to the update channel's ref too, so that the very same commit can be published there
          const channel = channelRef(definition, tree.variant, tree.arch);
          const bindRefs = channel && channel !== ref ? [channel] : [];
          const commitKey = detail?.treeId ? commitKeyOf(detail.treeId, ref, metadata, variantMetadata, bindRefs) : undefined;
          const tracking = { treeKey: detail?.key, treeId: detail?.treeId, commitKey };
          let record: OstreeCommitRecord | undefined;

          const last = previous && commitKey ? await previousRecord(previous.dir, tree.variant, tree.arch) : undefined;
          if (previous && last && detail?.origin === "reused" && last.commitKey === commitKey && last.ref === ref) {
            log.line(`reuse ${last.commit} (${ref}) from ${previous.repo}: same tree ${detail.treeId}`);
            const taken = await reuseCommit({
              repo,
              ref,
              previousRepo: previous.repo,
              commit: last.commit,
              profile,
              logger: ctx.logger,
              signal: ctx.signal,
              onOutput: (c) => log.write(c),
            });
            if (taken) {
              record = {
                variant: tree.variant,
                arch: tree.arch,
                repo,
                ref,
                commit: last.commit,
                parent: last.commit,
                changed: false,
                version: definition.version,
                kver,
                ...tracking,
                reusedFrom: basename(previous.dir),
              };
              ctx.logger.info(
                { ...record, durationMs: Date.now() - started, previousRepo: previous.repo },
                `same tree as the previous compose's commit (tree ${detail.treeId}): ${last.commit.slice(0, 12)} reused without committing`,
              );
              ctx.emit({
                phase: "ostree",
                kind: "note",
                text: `${tree.variant}/${tree.arch}: commit ${last.commit.slice(0, 12)} of ${basename(previous.dir)} reused (same tree)`,
              });
            } else {
              ctx.logger.info({ ref, expected: last.commit, previousRepo: previous.repo }, "the previous compose's ref moved: committing");
            }
          }

          if (!record) {
            const parent = options.parentOf?.(tree.variant, tree.arch);
            log.line(`commit ${tree.path} -> ${ref}${parent ? ` (parent ${parent})` : ""}`);
            const result = await commitTree({
              tree: tree.path,
              repo,
              ref,
              ...(parent ? { parent } : { previousRepo: previous?.repo }),
              subject: `${definition.name} ${definition.version} ${tree.variant} ${tree.arch} (${ctx.composeId})`,
              metadata,
              variantMetadata,
              bindRefs,
              profile,
              logger: ctx.logger,
              signal: ctx.signal,
              onOutput: (c) => log.write(c),
            });
            if (result.changed && definition.updates && options.sign !== false) {
              // signed where it is made, so the disk image's deployment and the published copy carry the signature
              const key = ctx.state.find("update-key") ?? (await updateSigningKey(definition, dirname(ctx.composeDir)));
              await signCommit({
                repo,
                commit: result.commit,
                key,
                profile,
                logger: ctx.logger,
                signal: ctx.signal,
                onOutput: (c) => log.write(c),
              });
              log.line(`signed ${result.commit} with ${key.fingerprint}`);
            }
            record = {
              variant: tree.variant,
              arch: tree.arch,
              repo,
              ref,
              ...result,
              version: definition.version,
              kver,
              ...tracking,
            };
            ctx.logger.info(
              { ...record, durationMs: Date.now() - started, previousRepo: previous?.repo },
              result.changed ? "committed" : "no changes: the previous commit is reused",
            );
            ctx.emit({
              phase: "ostree",
              kind: "note",
              text: `${tree.variant}/${tree.arch}: ${result.changed ? "committed" : "no changes"} ${result.commit.slice(0, 12)}`,
            });
          }
          records.push(record);
          await writeCommitRecord(ctx.composeDir, record);
        }
        // written by the runroots as the range's root: the compose's output belongs to its caller
        await handBackToCaller(repo, { logger: ctx.logger, signal: ctx.signal });
      } finally {
        await log.close();
      }
      recordCommits(ctx, records);
    },
  };
}
