import type { IndexPackage, LoadedRepository } from "../pkgset/repository-index.js";
import type { Baseline, SelectionReason } from "../pkgset/resolver.js";
import type { PhaseContext } from "./phase-engine.js";

/**
 * Keys and shapes of what the package-side phases (pkgset, gather, snapshot-repo) leave in the run's
 * shared state (PhaseContext.state), and what the metadata phase reads back. The image-side phases
 * read SNAPSHOT_STATE to install from the snapshot, and may record their deliverables under
 * IMAGES_STATE.
 */

/** variant -> arch -> value */
export type PerVariantArch<T> = Record<string, Record<string, T>>;

export const PKGSET_STATE = "pkgset";
export interface PkgsetState {
  baseline: Baseline;
  recommends: boolean;
  repositories: LoadedRepository[];
  /** Resolved sets, sorted by name. */
  sets: PerVariantArch<IndexPackage[]>;
  reasons: PerVariantArch<Map<string, SelectionReason>>;
  /** The lockfile that pinned versions, when one was given. */
  lockfile?: string;
}

export const GATHER_STATE = "gather";
export interface GatherState {
  /** SHA256 -> path of the verified .deb in the shared cache. */
  files: Map<string, string>;
  /** Bytes downloaded in this run (0 when everything came from the cache). */
  downloadedBytes: number;
  totalBytes: number;
}

export const SNAPSHOT_STATE = "snapshot";
/** One package of a set as the rootfs phase installs it. */
export interface SnapshotPackage {
  name: string;
  version: string;
  architecture: string;
}
export interface SnapshotState {
  /** file:// URL of the snapshot repository (compose/repo). */
  url: string;
  /** Its directory. */
  path: string;
  /**
   * One suite per variant, holding exactly that variant's packages (all its arches), so that apt or
   * mmdebstrap cannot pick a package another variant brought in: variant -> suite name.
   */
  suites: Record<string, string>;
  components: string[];
  /** Codename written in each suite's Release (the definition's suite). */
  codename: string;
  /** Binary OpenPGP keyring with the snapshot's signing key (for apt's Signed-By / mmdebstrap's --keyring). */
  keyring: string;
  /** The same key, ASCII-armoured. */
  armoredKey: string;
  fingerprint: string;
  /** The mmdebstrap variant that installs the baseline the sets were resolved with. */
  mmdebstrapVariant: string;
  /** The sets: variant -> arch -> packages, sorted by name. */
  packages: PerVariantArch<SnapshotPackage[]>;
  /** compose/metadata/lockfile.json */
  lockfile: string;
}

/** The one-line APT source for a variant's snapshot suite: `deb [signed-by=KEYRING] URL SUITE COMPONENTS`. */
export function snapshotSourceLine(state: SnapshotState, variant: string): string {
  const suite = state.suites[variant];
  if (suite === undefined) throw new Error(`no snapshot suite for variant ${variant}`);
  return `deb [signed-by=${state.keyring}] ${state.url} ${suite} ${state.components.join(" ")}`;
}

export const IMAGES_STATE = "images";
/** A deliverable an image phase wrote (metadata also finds OCI layouts, archives and disks by scanning compose/). */
export interface ImageRecord {
  variant: string;
  arch: string;
  /** oci, ociarchive, qcow2, raw, ostree, ... */
  type: string;
  /** Path relative to the compose directory. */
  path: string;
  format?: string;
  digest?: string;
}

export function readState<T>(ctx: Pick<PhaseContext, "state">, key: string): T | undefined {
  return ctx.state.get(key) as T | undefined;
}
