import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { compareVersions } from "@debian-bootc/debian";
import { parseComposeId } from "../compose/compose-id.js";
import type { PerVariantArch } from "../compose/compose-state.js";
import { composeError } from "../errors.js";

/** One package of a set as compose/metadata/packages.json lists it. */
export interface PackageRecord {
  name: string;
  version: string;
  arch: string;
  source: string;
  sourceVersion: string;
  sha256: string;
  size: number;
  filename: string;
  repository: string;
  suite: string;
  component: string;
  /** For a package deb-orchestrator built in this compose's build phase: where and how. */
  orchestrator?: {
    hub: string;
    tag: string;
    build: number;
    task: number | null;
    buildArchTask: number | null;
    buildroot: number | null;
    host: string | null;
  };
}

export interface PackagesMetadata {
  header: { type: "deb-bootc-compose.packages"; version: "1.0" };
  payload: { compose: { id: string; name: string; version: string }; packages: PerVariantArch<PackageRecord[]> };
}

export interface VersionChange {
  name: string;
  arch: string;
  from: string;
  to: string;
}

export interface SetDiff {
  added: Array<{ name: string; arch: string; version: string }>;
  removed: Array<{ name: string; arch: string; version: string }>;
  upgraded: VersionChange[];
  downgraded: VersionChange[];
  /** Same version, different content (a rebuild under the same version: worth a look). */
  changed: VersionChange[];
  unchanged: number;
}

export interface PackageDiff {
  from: string;
  to: string;
  sets: PerVariantArch<SetDiff>;
  summary: { added: number; removed: number; upgraded: number; downgraded: number; changed: number };
}

function byName(list: readonly PackageRecord[] | undefined): Map<string, PackageRecord> {
  return new Map((list ?? []).map((p) => [p.name, p]));
}

/** Compare two composes' package sets, per variant and arch (a set only on one side is all added or removed). */
export function diffPackages(from: PackagesMetadata, to: PackagesMetadata): PackageDiff {
  const sets: PerVariantArch<SetDiff> = {};
  const summary = { added: 0, removed: 0, upgraded: 0, downgraded: 0, changed: 0 };
  const variants = [...new Set([...Object.keys(from.payload.packages), ...Object.keys(to.payload.packages)])].sort();
  for (const variant of variants) {
    const a = from.payload.packages[variant] ?? {};
    const b = to.payload.packages[variant] ?? {};
    const arches = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    sets[variant] = {};
    for (const arch of arches) {
      const old = byName(a[arch]);
      const now = byName(b[arch]);
      const d: SetDiff = { added: [], removed: [], upgraded: [], downgraded: [], changed: [], unchanged: 0 };
      for (const [name, p] of now) {
        const o = old.get(name);
        if (!o) d.added.push({ name, arch: p.arch, version: p.version });
        else {
          const cmp = compareVersions(p.version, o.version);
          const change = { name, arch: p.arch, from: o.version, to: p.version };
          if (cmp > 0) d.upgraded.push(change);
          else if (cmp < 0) d.downgraded.push(change);
          else if (o.sha256 !== p.sha256) d.changed.push(change);
          else d.unchanged++;
        }
      }
      for (const [name, o] of old) if (!now.has(name)) d.removed.push({ name, arch: o.arch, version: o.version });
      const sortByName = <T extends { name: string }>(x: T[]) => x.sort((p, q) => (p.name < q.name ? -1 : p.name > q.name ? 1 : 0));
      for (const list of [d.added, d.removed, d.upgraded, d.downgraded, d.changed]) sortByName(list as Array<{ name: string }>);
      summary.added += d.added.length;
      summary.removed += d.removed.length;
      summary.upgraded += d.upgraded.length;
      summary.downgraded += d.downgraded.length;
      summary.changed += d.changed.length;
      sets[variant][arch] = d;
    }
  }
  return { from: from.payload.compose.id, to: to.payload.compose.id, sets, summary };
}

/** The diff as text, one line per change, grouped by variant/arch. */
export function formatPackageDiff(diff: PackageDiff): string {
  const lines = [`package changes from ${diff.from} to ${diff.to}`];
  const s = diff.summary;
  lines.push(
    `${s.added} added, ${s.removed} removed, ${s.upgraded} upgraded, ${s.downgraded} downgraded, ${s.changed} changed without a new version`,
  );
  for (const [variant, byArch] of Object.entries(diff.sets)) {
    for (const [arch, d] of Object.entries(byArch)) {
      const changes = d.added.length + d.removed.length + d.upgraded.length + d.downgraded.length + d.changed.length;
      lines.push("", `${variant}/${arch}: ${changes === 0 ? "no changes" : `${changes} changes`} (${d.unchanged} unchanged)`);
      for (const p of d.added) lines.push(`  added      ${p.name} ${p.version}`);
      for (const p of d.removed) lines.push(`  removed    ${p.name} ${p.version}`);
      for (const p of d.upgraded) lines.push(`  upgraded   ${p.name} ${p.from} -> ${p.to}`);
      for (const p of d.downgraded) lines.push(`  downgraded ${p.name} ${p.from} -> ${p.to}`);
      for (const p of d.changed) lines.push(`  changed    ${p.name} ${p.to} (same version, different SHA256)`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** compose/metadata/packages.json of a compose directory. */
export async function readPackagesMetadata(composeDir: string): Promise<PackagesMetadata> {
  const path = join(composeDir, "compose", "metadata", "packages.json");
  let data: PackagesMetadata;
  try {
    data = JSON.parse(await readFile(path, "utf8")) as PackagesMetadata;
  } catch (error) {
    throw composeError("COMPOSE_DIR_INVALID", `${composeDir}: no readable compose/metadata/packages.json (${(error as Error).message})`, {
      cause: error,
      hint: "give a compose directory whose metadata phase ran",
    });
  }
  if (data?.header?.type !== "deb-bootc-compose.packages" || typeof data.payload?.packages !== "object") {
    throw composeError("COMPOSE_DIR_INVALID", `${path}: not a deb-bootc-compose packages.json`);
  }
  return data;
}

/**
 * The latest earlier compose of the same name in a directory: finished (FINISHED or
 * FINISHED_INCOMPLETE), with packages.json, ordered by date and respin; `exclude` is the current one.
 */
export async function findPreviousCompose(dir: string, name: string, exclude: string): Promise<string | undefined> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return undefined;
  }
  const candidates = entries
    .map((e) => ({ e, id: parseComposeId(e) }))
    .filter((c) => c.id !== undefined && c.id.name === name && c.e !== exclude)
    .sort((x, y) =>
      x.id!.date !== y.id!.date ? (x.id!.date < y.id!.date ? 1 : -1) : y.id!.n - x.id!.n || compareVersions(y.id!.version, x.id!.version),
    );
  for (const c of candidates) {
    try {
      const status = (await readFile(join(dir, c.e, "STATUS"), "utf8")).trim();
      if (status !== "FINISHED" && status !== "FINISHED_INCOMPLETE") continue;
      await readFile(join(dir, c.e, "compose", "metadata", "packages.json"));
      return join(dir, c.e);
    } catch {
      // not a finished compose with metadata
    }
  }
  return undefined;
}
