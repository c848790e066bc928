import type { BootTestRecord } from "../boot/test-phase.js";
import type { BuildState } from "../build/build-phase.js";
import type { DiskImageRecord } from "../disk/image-build-phase.js";
import { composeError } from "../errors.js";
import type { OstreeCommitRecord } from "../ostree/ostree-phase.js";
import type { IndexPackage, LoadedRepository } from "../pkgset/repository-index.js";
import type { Baseline, SelectionReason } from "../pkgset/resolver.js";
import type { PublishedRecord } from "../publish/publish.js";
import type { UpdateSigningKey } from "../publish/signing-key.js";
import type { RootfsDetails } from "../rootfs/rootfs-phase.js";

/**
 * What the phases of one run hand to each other (PhaseContext.state): every key with the type of its value
 * and the phase that produces it. A phase writes its key once; a later phase reads it typed, with get()
 * when it cannot do without it (a clear PHASE_PREREQUISITE error when the producer has not run) or find()
 * when it can.
 */
export interface ComposeStateValues {
  /** The builds made or reused for the definition's build section, and the destination tag's repository. */
  build: BuildState;
  /** The resolved package sets. */
  pkgset: PkgsetState;
  /** The verified .debs in the shared cache. */
  gather: GatherState;
  /** The compose's signed APT snapshot. */
  snapshot: SnapshotState;
  /** One root tree per variant and arch. */
  rootfs: RootfsTree[];
  /** Kernel version, timings and cache origin of each root tree. */
  "rootfs-details": RootfsDetails[];
  /** The update channel's signing key the trees trust (with an updates section): the ostree phase signs with it. */
  "update-key": UpdateSigningKey;
  /** One OSTree commit per variant and arch. */
  ostree: OstreeCommitRecord[];
  /** The deliverables image phases recorded for the metadata (the one key several phases add to). */
  images: ImageRecord[];
  /** The disk images the test phase boots. */
  "disk-images": DiskImageRecord[];
  /** Boot-test results per image. */
  "boot-tests": BootTestRecord[];
  /** Where each variant's commit went in the update channel (updates.publishTo). */
  published: PublishedRecord[];
}
export type ComposeStateKey = keyof ComposeStateValues;

/** The phase that produces each key (named when a key is read before it exists). */
const PRODUCERS: Record<ComposeStateKey, string> = {
  build: "build",
  pkgset: "pkgset",
  gather: "gather",
  snapshot: "snapshot-repo",
  rootfs: "rootfs",
  "rootfs-details": "rootfs",
  "update-key": "rootfs",
  ostree: "ostree",
  images: "ostree or image-build",
  "disk-images": "image-build",
  "boot-tests": "test",
  published: "publish",
};

/** The run's shared state: each key written once by its phase, read typed by the phases after it. */
export class ComposeState {
  readonly #values: Partial<ComposeStateValues> = {};

  /** Record what a phase produced; a key is written once (a second write is a bug in the phases). */
  set<K extends ComposeStateKey>(key: K, value: ComposeStateValues[K]): void {
    if (this.#values[key] !== undefined) throw new Error(`compose state: ${key} is written once, by the ${PRODUCERS[key]} phase`);
    this.#values[key] = value;
  }

  /** Add deliverables to the images list (the one key more than one phase contributes to). */
  addImages(records: readonly ImageRecord[]): void {
    this.#values.images = [...(this.#values.images ?? []), ...records];
  }

  /** What an earlier phase produced; PHASE_PREREQUISITE when that phase has not run in this compose. */
  get<K extends ComposeStateKey>(key: K): ComposeStateValues[K] {
    const value = this.find(key);
    if (value === undefined)
      throw composeError("PHASE_PREREQUISITE", `the compose state has no ${key}: the ${PRODUCERS[key]} phase did not run in this compose`, {
        hint: `run ${PRODUCERS[key]} too`,
      });
    return value;
  }

  /** What an earlier phase produced, or undefined when it has not run. */
  find<K extends ComposeStateKey>(key: K): ComposeStateValues[K] | undefined {
    return this.#values[key];
  }
}

/** variant -> arch -> value */
export type PerVariantArch<T> = Record<string, Record<string, T>>;

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

export interface GatherState {
  /** SHA256 -> path of the verified .deb in the shared cache. */
  files: Map<string, string>;
  /** Bytes downloaded in this run (0 when everything came from the cache). */
  downloadedBytes: number;
  totalBytes: number;
}

/** One package of a set as the rootfs phase installs it. */
export interface SnapshotPackage {
  name: string;
  version: string;
  architecture: string;
  /** The .deb's SHA256: set in an image task's seeded state (there is no pkgset there to key the tree by). */
  sha256?: string;
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
  /** SHA256 of a file deliverable, when the phase that wrote it knows it (the metadata phase does not hash it again). */
  sha256?: string;
}

/** What the rootfs phase leaves in the run's state: one tree per variant and arch. */
export interface RootfsTree {
  variant: string;
  arch: string;
  path: string;
}
