import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { writeFileAtomic } from "@debian-bootc/core";
import { createOpenPgpSigner, dearmor, generateOpenPgpKey, writeAptRepository } from "@debian-bootc/debian";
import type { SnapshotPackage, SnapshotState } from "../compose/compose-state.js";
import type { Phase } from "../compose/phase-engine.js";
import { composeError } from "../errors.js";
import { pkgsetState } from "../gather/gather-phase.js";
import { makeLockfile, writeLockfile } from "../pkgset/lockfile.js";
import type { IndexPackage } from "../pkgset/repository-index.js";
import { mmdebstrapVariant } from "../pkgset/resolver.js";

/**
 * The snapshot signing key of an output directory: <output>/.deb-bootc-compose/snapshot-key.asc (0600),
 * made on first use and kept, so that every compose of that directory is signed by the same key.
 */
export async function snapshotSigningKey(outputDir: string): Promise<string> {
  const dir = join(outputDir, ".deb-bootc-compose");
  const path = join(dir, "snapshot-key.asc");
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const key = await generateOpenPgpKey({ name: "deb-bootc-compose snapshot signing key", email: "snapshots@deb-bootc-compose.invalid" });
  try {
    await writeFile(path, key.privateKey, { flag: "wx", mode: 0o600 });
  } catch (error) {
    // another compose made it at the same moment: use theirs
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return await readFile(path, "utf8");
    throw error;
  }
  await chmod(path, 0o600);
  return key.privateKey;
}

/** The snapshot suite of a variant. */
export function snapshotSuite(suite: string, variant: string): string {
  return `${suite}-${variant}`;
}

/**
 * The snapshot-repo phase: one signed suite per variant under compose/repo, holding exactly that
 * variant's packages for all arches (the pool is shared), the public key beside it, and the lockfile
 * in compose/metadata.
 */
export function createSnapshotPhase(): Phase {
  return {
    name: "snapshot-repo",
    async run(ctx) {
      const { definition } = ctx;
      const sets = pkgsetState(ctx, "snapshot-repo");
      const gathered = ctx.state.find("gather");
      if (!gathered) {
        throw composeError(
          "PHASE_PREREQUISITE",
          "the snapshot-repo phase needs the .debs of the gather phase, which did not run in this compose",
          {
            hint: "run gather too",
          },
        );
      }
      const root = resolve(ctx.composeDir, "compose", "repo");
      await mkdir(root, { recursive: true });
      const signer = await createOpenPgpSigner({ privateKey: await snapshotSigningKey(dirname(resolve(ctx.composeDir))) });
      const armoredKey = join(root, "snapshot-key.asc");
      const keyring = join(root, "snapshot-keyring.gpg");
      await writeFileAtomic(armoredKey, signer.publicKey());
      await writeFileAtomic(keyring, await dearmor(signer.publicKey(), armoredKey));

      const suites: Record<string, string> = {};
      const packages: Record<string, Record<string, SnapshotPackage[]>> = {};
      const components = new Set<string>();
      for (const byArch of Object.values(sets.sets))
        for (const list of Object.values(byArch)) for (const p of list) components.add(p.origin.component);
      const componentList = [...components].sort((a, b) => (a === "main" ? -1 : b === "main" ? 1 : a < b ? -1 : 1));
      const date = new Date();
      for (const [variant, byArch] of Object.entries(sets.sets)) {
        const unique = new Map<string, IndexPackage>();
        packages[variant] = {};
        for (const [arch, list] of Object.entries(byArch)) {
          packages[variant][arch] = list.map((p) => ({ name: p.name, version: p.version, architecture: p.architecture }));
          for (const p of list) unique.set(p.sha256, p);
        }
        const debs = [...unique.values()].map((p) => {
          const path = gathered.files.get(p.sha256);
          if (!path) throw composeError("PHASE_PREREQUISITE", `${p.name} ${p.version} was not gathered`);
          // gather has just checked the file's size and SHA256 against the verified index, which gives its MD5 too
          return {
            deb: path,
            component: p.origin.component,
            ...(p.md5 ? { digests: { size: p.size, md5: p.md5, sha256: p.sha256 } } : {}),
          };
        });
        const suite = snapshotSuite(definition.suite, variant);
        const started = Date.now();
        const written = await writeAptRepository({
          root,
          suite,
          codename: definition.suite,
          origin: "deb-bootc-compose",
          label: `${definition.name} ${variant}`,
          version: definition.version,
          description: `${ctx.composeId}: the ${variant} package set`,
          architectures: [...definition.arches],
          components: componentList,
          debs,
          // the .debs are the gather cache's, content-addressed and checked on every use, never written in place
          poolLinks: true,
          date,
          signer,
          logger: ctx.logger,
        });
        suites[variant] = suite;
        ctx.logger.info({ variant, suite, packages: written.packages, durationMs: Date.now() - started }, "snapshot suite written");
      }
      await signer.close?.();

      const lockfile = join(ctx.composeDir, "compose", "metadata", "lockfile.json");
      const lockSets = new Map(Object.entries(sets.sets).map(([v, byArch]) => [v, new Map(Object.entries(byArch))]));
      await writeLockfile(lockfile, makeLockfile(lockSets, { compose: ctx.composeId, suite: definition.suite }));

      const state: SnapshotState = {
        url: pathToFileURL(root).href,
        path: root,
        suites,
        components: componentList,
        codename: definition.suite,
        keyring,
        armoredKey,
        fingerprint: signer.fingerprint,
        mmdebstrapVariant: mmdebstrapVariant(sets.baseline),
        packages,
        lockfile,
      };
      ctx.state.set("snapshot", state);
    },
  };
}
