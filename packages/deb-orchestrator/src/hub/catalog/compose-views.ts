import type { Kysely, Selectable } from "kysely";
import type { ComposePhase, ComposePhaseStatus, ComposePublished, ComposeStatus, ComposeSummary, ComposeView } from "../../api/composes.js";
import type { ComposesTable, Database } from "../../db/schema.js";
import { orchestratorError } from "../../errors.js";

/* Composes as the API and the web UI show them: listed, described (phases, images, packages), their SBOM
 * and phase logs. Reading only; catalog/composes.ts records them as deb-bootc-compose reports. */

type ComposeRow = Selectable<ComposesTable>;

export async function findCompose(db: Kysely<Database>, composeId: string) {
  const row = await db.selectFrom("composes").selectAll().where("compose_id", "=", composeId).executeTakeFirst();
  if (!row) throw orchestratorError("NOT_FOUND", `compose '${composeId}' does not exist`);
  return row;
}

export function composeSummary(
  row: Pick<ComposeRow, "compose_id" | "name" | "status" | "definition_hash" | "started_at" | "completed_at">,
  owner: string,
) {
  return {
    id: row.compose_id,
    name: row.name,
    status: row.status as ComposeStatus,
    owner,
    definitionHash: row.definition_hash,
    startedAt: Number(row.started_at),
    completedAt: row.completed_at === null ? null : Number(row.completed_at),
  } satisfies ComposeSummary;
}

export async function userName(db: Kysely<Database>, id: number): Promise<string> {
  return (await db.selectFrom("users").select("name").where("id", "=", id).executeTakeFirst())?.name ?? "?";
}

export async function listComposes(db: Kysely<Database>, filter: { name?: string; status?: string; limit?: number; offset?: number }) {
  let query = db
    .selectFrom("composes")
    .innerJoin("users", "users.id", "composes.owner_id")
    .select([
      "composes.compose_id",
      "composes.name",
      "composes.status",
      "composes.definition_hash",
      "composes.started_at",
      "composes.completed_at",
      "users.name as owner",
    ]);
  if (filter.name) query = query.where("composes.name", "=", filter.name);
  if (filter.status) query = query.where("composes.status", "=", filter.status);
  const rows = await query
    .orderBy("composes.id", "desc")
    .limit(filter.limit ?? 100)
    .offset(filter.offset ?? 0)
    .execute();
  return rows.map((r) => composeSummary(r, r.owner));
}

function parseJson(text: string | null): unknown {
  return text === null ? null : (JSON.parse(text) as unknown);
}

export async function describeCompose(db: Kysely<Database>, composeId: string): Promise<ComposeView> {
  const row = await findCompose(db, composeId);
  const [phases, images, packages] = await Promise.all([
    db
      .selectFrom("compose_phases")
      .select(["name", "status", "started_at", "completed_at", "error"])
      .where("compose_id", "=", row.id)
      .orderBy("position")
      .execute(),
    db
      .selectFrom("compose_images")
      .select(["variant", "arch", "kind", "path", "digest", "size"])
      .where("compose_id", "=", row.id)
      .orderBy("path")
      .execute(),
    db
      .selectFrom("compose_packages")
      .select(["variant", "arch", "name", "version", "package_arch", "build_id"])
      .where("compose_id", "=", row.id)
      .orderBy("variant")
      .orderBy("arch")
      .orderBy("name")
      .execute(),
  ]);
  return {
    ...composeSummary(row, await userName(db, row.owner_id)),
    definition: row.definition,
    phases: phases.map(
      (p): ComposePhase => ({
        name: p.name,
        status: p.status as ComposePhaseStatus,
        startedAt: p.started_at === null ? null : Number(p.started_at),
        completedAt: p.completed_at === null ? null : Number(p.completed_at),
        error: parseJson(p.error) as ComposePhase["error"],
      }),
    ),
    images: images.map((i) => ({ ...i, size: Number(i.size) })),
    packages: packages.map((p) => ({
      variant: p.variant,
      arch: p.arch,
      name: p.name,
      version: p.version,
      packageArch: p.package_arch,
      build: p.build_id,
    })),
    diff: parseJson(row.diff),
    published: parseJson(row.published) as ComposePublished | null,
    hasSbom: row.sbom !== null,
  };
}

export async function composeSbom(db: Kysely<Database>, composeId: string): Promise<Record<string, unknown>> {
  const row = await findCompose(db, composeId);
  if (row.sbom === null) throw orchestratorError("NOT_FOUND", `compose '${composeId}' has no SBOM`);
  return JSON.parse(row.sbom) as Record<string, unknown>;
}

export async function composePhaseLog(db: Kysely<Database>, composeId: string, phase: string): Promise<string> {
  const row = await findCompose(db, composeId);
  const found = await db
    .selectFrom("compose_phases")
    .select("log")
    .where("compose_id", "=", row.id)
    .where("name", "=", phase)
    .executeTakeFirst();
  if (!found) throw orchestratorError("NOT_FOUND", `compose '${composeId}' has no phase '${phase}'`);
  return found.log ?? "";
}
