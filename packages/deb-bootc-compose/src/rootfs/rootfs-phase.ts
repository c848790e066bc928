import { dirname, join, resolve } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import type { RootfsTree } from "../compose/compose-state.js";
import type { Phase, PhaseContext } from "../compose/phase-engine.js";
import { composeError } from "../errors.js";
import { imageContainersTrust } from "../oci/sign.js";
import { cacheDirOf } from "../pkgset/pkgset-phase.js";
import { type PublicUpdateKey, updateSigningKey } from "../publish/signing-key.js";
import { installPlan } from "./apt-sources.js";
import { imageIds } from "./chroot.js";
import type { ContainersTrust } from "./containers-policy.js";
import { buildRootfs, rootfsPath } from "./rootfs.js";
import { newTreeId, RootfsCache } from "./rootfs-cache.js";
import { openTextLog } from "./text-log.js";
import { mmdebstrapVersion, resolvedPackages, treeKeyInputs, treeKeyOf } from "./tree-key.js";

export interface RootfsPhaseOptions {
  /** The definition's directory (files' src and postprocess scripts are relative to it). */
  baseDir: string;
  /** Mirror for `type: debian` repositories without one when no snapshot exists (default: the host's). */
  mirror?: string;
  /** The compose cache (default: defaultCacheDir()); finished trees are kept under <cacheDir>/rootfs. */
  cacheDir?: string;
  /** false: build every tree afresh (it still replaces the cached tree of its key). Default true. */
  rootfsCache?: boolean;
  /** How many trees the rootfs cache keeps (default 3). */
  rootfsCacheKeep?: number;
  /**
   * An image task's: the one variant/arch to make, and the keys the image trusts as given (the builder has
   * no private key to read them from). The update key is then not put in the state: nothing signs here.
   */
  only?: { variant: string; arch: string; trust: ImageTrust };
}

/** The public keys an image trusts: the update channel's and the containers policy's. */
export interface ImageTrust {
  updateKey?: PublicUpdateKey;
  containersTrust?: ContainersTrust;
}

/**
 * How the tree came to be: `reused` from the rootfs cache, `built` (a miss, or --no-rootfs-cache), or
 * `unkeyed` (installed from the repositories directly, without the compose's resolved set: never cached).
 */
export type RootfsOrigin = "reused" | "built" | "unkeyed";

export interface RootfsDetails extends Omit<RootfsTree, "path"> {
  /** The tree on this machine; absent when a builder made it (an image task), and then builtOn names the builder. */
  path?: string;
  builtOn?: string;
  kver: string;
  durations: Record<string, number>;
  from: "snapshot" | "repositories";
  origin: RootfsOrigin;
  /** The tree key (tree-key.ts); absent for an unkeyed tree. */
  key?: string;
  /** This particular tree (key + build time); the ostree phase compares it with the previous commit's. */
  treeId?: string;
  /** The compose that built a reused tree. */
  builtBy?: string;
}

/**
 * The rootfs phase: one tree per variant and arch under work/<arch>/<variant>/rootfs, installed from
 * the APT snapshot (or the definition's repositories when the package phases were skipped), customised
 * and laid out for ostree; mmdebstrap's and dracut's output go to logs/rootfs-<variant>-<arch>.log.
 * A tree whose key (the exact .debs, the tree-shaping fields of the definition, the suite and arch,
 * this code's version) is in the rootfs cache is copied from there instead (rootfs-cache.ts); a tree
 * built here is published to it.
 */
export function createRootfsPhase(options: RootfsPhaseOptions): Phase {
  return {
    name: "rootfs",
    async run(ctx) {
      const trees: RootfsTree[] = [];
      const details: RootfsDetails[] = [];
      const useCache = options.rootfsCache !== false;
      let cache: RootfsCache | undefined;
      let mmdebstrap: string | undefined;
      // the signing key is made (or read) before any tree: the images trust it
      const { only } = options;
      const containersTrust = only
        ? only.trust.containersTrust
        : await imageContainersTrust(ctx.definition, options.baseDir, dirname(resolve(ctx.composeDir)));
      const updateKey = only?.trust.updateKey;
      for (const arch of only ? [only.arch] : ctx.definition.arches) {
        for (const variant of only ? [only.variant] : Object.keys(ctx.definition.variants)) {
          const plan = await installPlan(ctx, variant, arch, options.baseDir, options.mirror);
          const path = rootfsPath(ctx.composeDir, variant, arch);
          const logger = ctx.logger.child({ variant, arch });
          const packages = plan.from === "snapshot" ? resolvedPackages(ctx, variant, arch) : undefined;
          let key: ReturnType<typeof treeKeyOf> | undefined;
          if (packages) {
            mmdebstrap ??= await mmdebstrapVersion(ctx.signal);
            key = treeKeyOf(
              await treeKeyInputs({
                definition: ctx.definition,
                baseDir: options.baseDir,
                variant,
                arch,
                plan,
                packages,
                mmdebstrap,
                ids: await imageIds(),
                containersTrust,
                updateKey,
              }),
            );
            cache ??= new RootfsCache(await cacheDirOf(options), {
              keep: options.rootfsCacheKeep,
              owners: await imageIds(),
              logger: ctx.logger,
              signal: ctx.signal,
            });
            logger.debug({ key: key.key, inputs: key.inputs }, "tree key inputs");
          } else {
            logger.info({ from: plan.from }, "no resolved package set (pkgset/snapshot-repo skipped): the tree is built, not cached");
          }

          if (key && cache && useCache) {
            const started = Date.now();
            const entry = await cache.checkout(key.key, path);
            if (entry) {
              const durations = { checkout: Date.now() - started };
              trees.push({ variant, arch, path });
              details.push({
                variant,
                arch,
                path,
                kver: entry.kver,
                durations,
                from: plan.from,
                origin: "reused",
                key: key.key,
                treeId: entry.treeId,
                builtBy: entry.composeId,
              });
              logger.info(
                {
                  path,
                  key: key.key,
                  treeId: entry.treeId,
                  builtBy: entry.composeId,
                  builtAt: entry.createdAt,
                  kver: entry.kver,
                  durations,
                },
                `root tree reused from the rootfs cache (key ${key.key.slice(0, 12)}, built by ${entry.composeId})`,
              );
              ctx.emit({
                phase: "rootfs",
                kind: "note",
                text: `${variant}/${arch}: tree reused from the cache (key ${key.key.slice(0, 12)}, built by ${entry.composeId})`,
              });
              continue;
            }
            logger.info({ key: key.key, cache: cache.dir }, "rootfs cache miss: building the tree");
          }

          const log = await openTextLog(join(ctx.composeDir, "logs", `rootfs-${variant}-${arch}.log`));
          try {
            const result = await buildRootfs({
              definition: ctx.definition,
              baseDir: options.baseDir,
              variant,
              arch,
              plan,
              path,
              logger,
              signal: ctx.signal,
              onOutput: (chunk) => log.write(chunk),
              containersTrust,
              updateKey,
            });
            const treeId = key ? newTreeId(key.key) : undefined;
            if (key && cache) {
              const started = Date.now();
              try {
                const { pruned } = await cache.publish(path, {
                  key: key.key,
                  treeId: treeId!,
                  createdAt: new Date().toISOString(),
                  composeId: ctx.composeId,
                  kver: result.kver,
                  durations: result.durations,
                  inputs: key.inputs,
                });
                result.durations.publish = Date.now() - started;
                logger.info({ key: key.key, treeId, pruned, cache: cache.dir }, "tree published to the rootfs cache");
              } catch (error) {
                if (isCodedError(error, "INTERRUPTED")) throw error;
                // the compose's own tree is whole: a cache that cannot take it costs the next compose time, not this one
                logger.warn({ key: key.key, error: (error as Error).message }, "tree not published to the rootfs cache");
              }
            }
            const origin: RootfsOrigin = key ? "built" : "unkeyed";
            trees.push({ variant, arch, path });
            details.push({
              variant,
              arch,
              path,
              kver: result.kver,
              durations: result.durations,
              from: plan.from,
              origin,
              key: key?.key,
              treeId,
            });
            logger.info({ path, kver: result.kver, durations: result.durations, key: key?.key, treeId }, "root tree ready");
            ctx.emit({
              phase: "rootfs",
              kind: "note",
              text: `${variant}/${arch}: tree built${key ? ` (key ${key.key.slice(0, 12)}${useCache ? "" : ", --no-rootfs-cache"})` : " (not cached: no resolved package set)"}`,
            });
          } finally {
            await log.close();
          }
        }
      }
      ctx.state.set("rootfs", trees);
      ctx.state.set("rootfs-details", details);
      if (ctx.definition.updates && !only) ctx.state.set("update-key", await updateSigningKey(ctx.definition, options.baseDir));
    },
  };
}

/** The rootfs phase's trees, for the phases that work on them (oci, lint). */
export function rootTrees(ctx: Pick<PhaseContext, "state">): RootfsTree[] {
  const trees = ctx.state.find("rootfs");
  if (!trees || trees.length === 0)
    throw composeError("COMPOSE_PHASE_FAILED", "no root trees: the rootfs phase did not run in this compose");
  return trees;
}
