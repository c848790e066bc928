import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type BatchSource, buildOrderAcross, type FieldSource, parseDeb822, parseDsc, parseRelations, readDsc } from "@debian-bootc/debian";
import type { IdentifiedSource } from "./source-prep.js";

/**
 * The build section's sources level by level in build order (debian's buildOrderAcross, over every
 * architecture the compose builds): a source that build-depends on another's binaries on any of them
 * comes in a later level, so it is submitted once that one is built. A cycle raises
 * BUILD_DEPENDENCY_CYCLE before anything is submitted.
 */
export async function orderSources(sources: readonly IdentifiedSource[], arches: readonly string[]): Promise<IdentifiedSource[][]> {
  const batch = await Promise.all(sources.map(batchSourceOf));
  const byName = new Map(sources.map((s) => [s.name, s]));
  return buildOrderAcross(batch, arches, {}).levels.map((level) => level.map((name) => byName.get(name)!));
}

/** What ordering needs of a source (its build-dependencies and binaries), from what identifying it read. */
async function batchSourceOf(source: IdentifiedSource): Promise<BatchSource> {
  const { tree, dscText, dscUrl, dscPath, stanza } = source.detail;
  if (tree !== undefined) {
    const path = join(tree, "debian", "control");
    const [head, ...packages] = parseDeb822(await readFile(path, "utf8"), { source: path, comments: true });
    return fromFields(source, head!, packages.map((p) => p.get("Package") ?? "").filter(Boolean), path);
  }
  if (dscPath !== undefined) return readDsc(dscPath);
  if (dscText !== undefined) return parseDsc(dscText, dscUrl ?? source.ref);
  if (stanza !== undefined)
    return fromFields(
      source,
      stanza,
      (stanza.get("Binary") ?? "")
        .split(",")
        .map((b) => b.trim())
        .filter(Boolean),
      source.ref,
    );
  return { source: source.name, version: source.version, binaries: [], buildDepends: [] };
}

function fromFields(source: IdentifiedSource, fields: FieldSource, binaries: string[], where: string): BatchSource {
  const relations = (field: string) => parseRelations(fields.get(field) ?? "", { field, source: where });
  return {
    source: source.name,
    version: source.version,
    binaries,
    buildDepends: relations("Build-Depends"),
    buildDependsArch: relations("Build-Depends-Arch"),
    buildDependsIndep: relations("Build-Depends-Indep"),
  };
}
