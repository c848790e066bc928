// sha256 of the .deb files a build left in a directory, and comparison across repeated builds.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** { "<file>.deb": "<sha256 hex>" } for the .deb files directly in `dir` (empty when there is none). */
export function debHashes(dir) {
  if (!existsSync(dir)) return {};
  const out = {};
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith(".deb")) continue;
    out[name] = createHash("sha256")
      .update(readFileSync(join(dir, name)))
      .digest("hex");
  }
  return out;
}

/**
 * Compares the hash maps of several runs. Returns { identical, files, differing } where `differing`
 * lists the files whose hashes differ or that are missing from some run; `identical` is null when
 * fewer than two runs produced .debs.
 */
export function compareRuns(hashMaps) {
  const runs = hashMaps.filter((m) => Object.keys(m).length > 0);
  if (runs.length < 2) return { identical: null, runs: runs.length, files: runs[0] ?? {}, differing: [] };
  const names = [...new Set(runs.flatMap((m) => Object.keys(m)))].sort();
  const differing = names.filter((n) => new Set(runs.map((m) => m[n] ?? "missing")).size > 1);
  return { identical: differing.length === 0, runs: runs.length, files: runs[0], differing };
}

/** Compares two hash maps by file name: { same: [...], different: [...], onlyA: [...], onlyB: [...] }. */
export function compareTools(a, b) {
  const out = { same: [], different: [], onlyA: [], onlyB: [] };
  for (const n of Object.keys(a)) {
    if (!(n in b)) out.onlyA.push(n);
    else (a[n] === b[n] ? out.same : out.different).push(n);
  }
  for (const n of Object.keys(b)) if (!(n in a)) out.onlyB.push(n);
  return out;
}
