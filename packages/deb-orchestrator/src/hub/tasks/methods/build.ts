import { binNmuVersion, checkBinNmu } from "@debian-bootc/debian";
import { z } from "zod";
import { type BuildArchRequest, type BuildRequest, isTerminal, methodCapability } from "../../../api/tasks.js";
import { orchestratorError } from "../../../errors.js";
import type { Principal } from "../../auth.js";
import { openBuild, setBuildState } from "../../catalog/builds.js";
import type { HubContext } from "../../context.js";
import { checkSubmittedSource } from "../../submitted-source.js";
import { checkArch, checkFileName, checkName, checkSha256 } from "../../validate.js";
import { buildTagRepos, checkBuildArch, readyRepoNumber, recheckDepWaits } from "../dep-wait.js";
import type { Stepper } from "../step-runner.js";
import * as transition from "../transitions.js";

/*
 * build: the top task of a build. Its steps: read the .dsc and open the build record, one buildArch per
 * architecture, then (not for a scratch build) tagBuild into the target's destination tag and newRepo of
 * that tag. It fails with the first child that fails.
 */

export const DEFAULT_PRIORITY = 20;

/** What the first step decided, kept in the task's result for the next steps. */
const buildProgress = z.object({
  source: z.string(),
  version: z.string(),
  arches: z.array(z.string()),
  buildTag: z.string(),
  destTag: z.string(),
  scratch: z.boolean(),
  /** The build record's version: the .dsc's, or its binNMU's (VERSION+bN). */
  buildVersion: z.string().optional(),
});
type BuildProgress = z.infer<typeof buildProgress>;

/** Submit a build of an uploaded source package to a target: the .dsc is read now, a bad one refused. */
export async function submitBuild(ctx: HubContext, principal: Principal, request: BuildRequest): Promise<number> {
  checkName(request.target, "target");
  checkFileName(request.dsc, "dsc");
  if (!request.dsc.endsWith(".dsc")) throw orchestratorError("SOURCE_INVALID", `dsc '${request.dsc}' does not end in .dsc`);
  const names = new Set<string>();
  for (const file of request.files) {
    checkFileName(file.name, "files[].name");
    checkSha256(file.sha256, "files[].sha256");
    if (names.has(file.name)) throw orchestratorError("SOURCE_INVALID", `file '${file.name}' is listed twice`);
    names.add(file.name);
    if (!(await ctx.store.has(file.sha256)))
      throw orchestratorError("ARTIFACT_MISSING", `file '${file.name}' (${file.sha256}) has not been uploaded`, {
        hint: "PUT it to /api/v1/artifacts/<sha256> first",
      });
  }
  if (!names.has(request.dsc)) throw orchestratorError("SOURCE_INVALID", `the .dsc '${request.dsc}' is not among the uploaded files`);
  for (const arch of request.arches ?? []) checkArch(arch);
  // its reason becomes a changelog line: refused here, not on a builder
  if (request.binnmu) checkBinNmu({ number: request.binnmu.number, reason: request.binnmu.reason });
  const target = await ctx.db.selectFrom("targets").select("id").where("name", "=", request.target).executeTakeFirst();
  if (!target)
    throw orchestratorError("NOT_FOUND", `target '${request.target}' does not exist`, { hint: "see deb-orchestrator list-targets" });
  await checkSubmittedSource(ctx.store, request);
  const id = await ctx.db.transaction().execute((trx) =>
    transition.insert(trx, ctx, {
      parentId: null,
      label: null,
      method: "build",
      arch: null,
      priority: request.priority ?? DEFAULT_PRIORITY,
      ownerId: principal.userId,
      request,
    }),
  );
  if (id === undefined) throw new Error("task insert returned no id");
  ctx.bus.ping();
  ctx.advance(id);
  return id;
}

/** The first step: the target's tags, the .dsc's name, version and arches, and the build record. */
async function prepareBuild(run: Stepper, task: transition.TaskRow, request: BuildRequest): Promise<BuildProgress | undefined> {
  const { ctx } = run;
  const target = await ctx.db
    .selectFrom("targets")
    .innerJoin("tags as b", "b.id", "targets.build_tag_id")
    .innerJoin("tags as d", "d.id", "targets.dest_tag_id")
    .select(["b.name as buildTag", "b.arches as arches", "d.name as destTag"])
    .where("targets.name", "=", request.target)
    .executeTakeFirst();
  if (!target) {
    await run.finish(task.id, "failed", { error: { code: "NOT_FOUND", message: `target '${request.target}' does not exist` } });
    return undefined;
  }
  let dsc: Awaited<ReturnType<typeof checkSubmittedSource>>;
  try {
    dsc = await checkSubmittedSource(ctx.store, request);
  } catch (error) {
    const coded = error as { code?: string; message?: string };
    await run.finish(task.id, "failed", { error: { code: coded.code ?? "SOURCE_INVALID", message: String(coded.message) } });
    return undefined;
  }
  const tagArches = target.arches.split(" ").filter(Boolean);
  let arches = request.arches?.length ? tagArches.filter((a) => request.arches?.includes(a)) : tagArches;
  const dscArches = dsc.architectures;
  const anyArch = dscArches.some((a) => a === "any" || a.endsWith("-any") || a.startsWith("any-"));
  if (!anyArch) {
    const listed = arches.filter((a) => dscArches.includes(a));
    arches = listed.length ? listed : dscArches.includes("all") ? arches.slice(0, 1) : [];
  }
  if (arches.length === 0) {
    await run.finish(task.id, "failed", {
      error: {
        code: "SOURCE_INVALID",
        message: `no architecture to build: the .dsc says '${dscArches.join(" ")}', tag '${target.buildTag}' has '${tagArches.join(" ")}'`,
      },
    });
    return undefined;
  }
  const progress: BuildProgress = {
    source: dsc.source,
    version: dsc.version,
    arches,
    buildTag: target.buildTag,
    destTag: target.destTag,
    scratch: request.scratch === true,
    ...(request.binnmu ? { buildVersion: binNmuVersion(dsc.version, request.binnmu.number) } : {}),
  };
  const failure = await ctx.db.transaction().execute(async (trx) => {
    let buildId: number | null = null;
    if (!progress.scratch) {
      const opened = await openBuild(trx, ctx, task, {
        source: progress.source,
        version: progress.buildVersion ?? progress.version,
        from: { dsc: request.dsc, files: request.files },
      });
      if ("error" in opened) return opened.error;
      buildId = opened.buildId;
    }
    await trx
      .updateTable("tasks")
      .set({ build_id: buildId, result: JSON.stringify(progress) })
      .where("id", "=", task.id)
      .execute();
    return undefined;
  });
  if (failure) {
    await run.finish(task.id, "failed", { error: failure });
    return undefined;
  }
  return progress;
}

/** A child task (buildArch-ARCH, tagBuild, newRepo) of the build, then a step of it. */
async function addChild(run: Stepper, task: transition.TaskRow, child: Omit<transition.NewTask, "parentId" | "priority" | "ownerId">) {
  const id = await run.ctx.db
    .transaction()
    .execute((trx) => transition.insert(trx, run.ctx, { parentId: task.id, priority: task.priority, ownerId: task.owner_id, ...child }));
  run.ctx.bus.ping();
  if (id !== undefined) run.advance(id);
}

/** A child that ended without closing fails the build with its error. */
function childFailure(child: transition.TaskRow, fallback: string) {
  return {
    code: child.error_code ?? fallback,
    message: `${child.method}${child.method === "buildArch" ? ` ${child.arch}` : ""} (task ${child.id}) ${child.state}: ${child.error_message ?? ""}`,
  };
}

export async function stepBuild(run: Stepper, task: transition.TaskRow, request: BuildRequest): Promise<void> {
  const { ctx } = run;
  const progress = task.result ? buildProgress.parse(JSON.parse(task.result)) : await prepareBuild(run, task, request);
  if (!progress) return;
  const children = await ctx.db.selectFrom("tasks").selectAll().where("parent_id", "=", task.id).execute();
  const byLabel = new Map(children.map((c) => [c.label, c]));
  const fresh = await ctx.db.selectFrom("tasks").select("build_id").where("id", "=", task.id).executeTakeFirstOrThrow();
  const missing = progress.arches.filter((arch) => !byLabel.has(`buildArch-${arch}`));
  if (missing.length) {
    const extraRepos = await buildTagRepos(ctx, progress.buildTag);
    const archRequests = missing.map(
      (arch): BuildArchRequest => ({
        source: progress.source,
        version: progress.version,
        arch,
        dsc: request.dsc,
        files: request.files,
        buildTag: progress.buildTag,
        extraRepos,
        ...(request.binnmu ? { binnmu: request.binnmu } : {}),
      }),
    );
    // checked before they exist: one whose build-dependencies cannot be satisfied yet waits in dep-wait
    const repoBefore = await readyRepoNumber(ctx, progress.buildTag);
    const depWaits = await Promise.all(archRequests.map((archRequest) => checkBuildArch(ctx, archRequest)));
    await ctx.db.transaction().execute(async (trx) => {
      for (const [i, archRequest] of archRequests.entries()) {
        const arch = archRequest.arch;
        const depWait = depWaits[i];
        await transition.insert(trx, ctx, {
          parentId: task.id,
          label: `buildArch-${arch}`,
          method: "buildArch",
          arch,
          priority: task.priority,
          ownerId: task.owner_id,
          request: archRequest,
          buildId: fresh.build_id,
          ...(depWait ? { depWait } : {}),
        });
      }
    });
    // a repository regenerated during the check re-checked the waiting tasks before these existed
    if (depWaits.some(Boolean) && (await readyRepoNumber(ctx, progress.buildTag)) !== repoBefore)
      await recheckDepWaits(ctx, progress.buildTag);
    for (const arch of missing) ctx.dispatcher.wake(arch, methodCapability.buildArch);
    ctx.bus.ping();
    return;
  }
  const archTasks = progress.arches.map((arch) => byLabel.get(`buildArch-${arch}`)!);
  const failed = archTasks.find((t) => t.state === "failed");
  const canceled = archTasks.find((t) => t.state === "canceled");
  if (failed || canceled) {
    for (const other of archTasks.filter((t) => !isTerminal(t.state)))
      await ctx.db.transaction().execute((trx) => transition.cancel(trx, ctx, other.id, { userId: null }));
    if (failed) await run.finish(task.id, "failed", { error: childFailure(failed, "BUILD_STEP_FAILED"), result: progress });
    else await run.finish(task.id, "canceled", { result: progress });
    return;
  }
  if (!archTasks.every((t) => t.state === "closed")) return;
  if (progress.scratch) {
    await run.finish(task.id, "closed", { result: progress });
    return;
  }
  const buildId = fresh.build_id;
  if (buildId === null) return;
  await ctx.db.transaction().execute((trx) => setBuildState(trx, ctx, buildId, "complete", task.owner_id));
  const destTag = async () =>
    (await ctx.db.selectFrom("tags").select("id").where("name", "=", progress.destTag).executeTakeFirst())?.id ?? null;
  const tagTask = byLabel.get("tagBuild");
  if (!tagTask) {
    const tagId = await destTag();
    await addChild(run, task, {
      label: "tagBuild",
      method: "tagBuild",
      arch: null,
      request: { tag: progress.destTag, build: buildId },
      buildId,
      tagId,
    });
    return;
  }
  if (tagTask.state === "failed" || tagTask.state === "canceled") {
    await run.finish(task.id, "failed", { error: childFailure(tagTask, "TASK_STATE"), result: progress });
    return;
  }
  if (tagTask.state !== "closed") return;
  const repoTask = byLabel.get("newRepo");
  if (!repoTask) {
    const tagId = await destTag();
    await addChild(run, task, { label: "newRepo", method: "newRepo", arch: null, request: { tag: progress.destTag }, tagId });
    return;
  }
  if (repoTask.state === "closed") await run.finish(task.id, "closed", { result: progress });
  else if (repoTask.state === "failed" || repoTask.state === "canceled")
    await run.finish(task.id, "failed", { error: childFailure(repoTask, "PUBLISH_FAILED"), result: progress });
}
