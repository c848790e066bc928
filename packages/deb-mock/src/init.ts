import type { CommonOptions } from "./environment.js";
import { Environment } from "./environment.js";
import { PhaseTracker } from "./events.js";
import { ensureIdRange } from "./id-range.js";

export interface InitOptions extends CommonOptions {
  /** Rebuild the base even when it is younger than cache.baseMaxAge. */
  force?: boolean;
  /** Refresh the package index even when it is younger than cache.indexMaxAge. */
  updateIndex?: boolean;
}

export interface InitResult {
  profile: string;
  key: string;
  environmentHash: string;
  base: { dir: string; createdAt: string; ageSeconds: number };
  index: { dir: string; createdAt: string; ageSeconds: number };
  phases: PhaseTracker["phases"];
  /** The subordinate ids the environments map to; `added` when this call gave root its range. */
  idRange: { uid: number; gid: number; count: number; added: boolean };
}

/**
 * Make sure the profile's base exists and is young enough (mmdebstrap --variant=buildd plus the profile's
 * packages, cached by a hash of its definition), and that its package index is fresh.
 */
export async function init(options: InitOptions = {}): Promise<InitResult> {
  const tracker = new PhaseTracker(options.onEvent);
  // root's environments need a subordinate range of their own: added here on a fresh machine
  const { range, added } = await ensureIdRange();
  if (added) {
    options.onEvent?.({
      type: "root-log",
      text: `added a subordinate id range for ${range.caller.name} to /etc/subuid and /etc/subgid: uids ${range.uid.start}-${range.uid.start + range.uid.count - 1}, gids ${range.gid.start}-${range.gid.start + range.gid.count - 1}; every environment's root maps to it`,
    });
  }
  const prepared = await tracker.phase("init", () =>
    Environment.prepare({ ...options, onEvent: (e) => tracker.emit(e), forceBase: options.force, forceIndex: options.updateIndex }),
  );
  const gen = (g: { dir: string; createdAt: Date; ageMs: number }) => ({
    dir: g.dir,
    createdAt: g.createdAt.toISOString(),
    ageSeconds: Math.round(g.ageMs / 1000),
  });
  return {
    profile: prepared.profile.name,
    key: prepared.identity.key,
    environmentHash: prepared.identity.hash,
    base: gen(prepared.base),
    index: gen(prepared.index),
    phases: tracker.phases,
    idRange: { uid: range.uid.start, gid: range.gid.start, count: range.uid.count, added },
  };
}
