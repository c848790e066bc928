/** Builds: submitting one, finding and listing them, what they produced, deleting one. */
import { z } from "zod";
import { count, operations, queued, rowId, sha256, time } from "./operation.js";
import { buildRequest, installedPackage, sourceFileRef, whyAnswer } from "./tasks.js";

export const buildStates = ["building", "complete", "failed", "canceled", "deleted"] as const;
export type BuildState = (typeof buildStates)[number];

/** What a build was made from: the .dsc's name and every file of the source package, as submitted. */
export const buildSource = z.object({ dsc: z.string(), files: z.array(sourceFileRef) });
export type BuildSource = z.infer<typeof buildSource>;

export const buildSummary = z.object({
  id: rowId,
  name: z.string(),
  version: z.string(),
  state: z.enum(buildStates),
  task: rowId.nullable(),
  createdAt: time,
  completedAt: time.nullable(),
});
export type BuildSummary = z.infer<typeof buildSummary>;

/** A build with its source, binaries, tags and the packages installed in each buildroot. */
export const buildView = buildSummary.extend({
  source: buildSource,
  binaries: z.array(z.object({ name: z.string(), version: z.string(), arch: z.string(), filename: z.string(), sha256, size: count })),
  tags: z.array(z.string()),
  buildroots: z.array(z.object({ id: rowId, arch: z.string(), task: rowId, installed: z.array(installedPackage) })),
});
export type BuildView = z.infer<typeof buildView>;

export const deleteBuildResult = z.object({
  build: rowId,
  name: z.string(),
  version: z.string(),
  /** Tags the build was removed from. */
  untagged: z.array(z.string()),
  /** newRepo tasks queued: the tags it was in, and the tags inheriting from them that have a repository. */
  repoTasks: z.array(rowId),
  artifacts: z.enum(["kept", "removed"]),
  /** sha256 of the stored files removed (with artifacts: remove). */
  removed: z.array(sha256),
  /** sha256 of the build's files kept because something else refers to them (another build, a task). */
  shared: z.array(sha256),
});
export type DeleteBuildResult = z.infer<typeof deleteBuildResult>;

/** A build: its id or NAME/VERSION. */
const buildRefParams = z.object({ ref: z.string().min(1).max(300) });

export const buildOperations = operations({
  submitBuild: {
    method: "POST",
    path: "/api/v1/builds",
    permission: "build",
    summary: "Submit a build of an uploaded source package",
    body: buildRequest.extend({
      files: z.array(sourceFileRef).max(64),
      arches: z.array(z.string().min(1).max(32)).max(32).optional(),
      priority: z.number().int().min(0).max(1000).optional(),
    }),
    status: 202,
    response: queued,
  },
  listBuilds: {
    method: "GET",
    path: "/api/v1/builds",
    summary: "List builds",
    query: z.object({
      name: z.string().min(1).max(128).optional(),
      state: z.enum(buildStates).optional(),
      limit: z.number().int().min(1).max(1000).optional(),
    }),
    response: z.array(buildSummary),
  },
  getBuild: {
    method: "GET",
    path: "/api/v1/builds/:ref",
    summary: "One build: id or NAME/VERSION (URL-encoded)",
    params: buildRefParams,
    response: buildView,
  },
  deleteBuild: {
    method: "DELETE",
    path: "/api/v1/builds/:ref",
    permission: "admin",
    summary:
      "Delete a build: state deleted, untagged everywhere, repositories regenerated; artifacts=remove also removes the files only it refers to",
    params: buildRefParams,
    query: z.object({ artifacts: z.enum(["keep", "remove"]).optional() }),
    response: deleteBuildResult,
  },
  whyBuild: {
    method: "GET",
    path: "/api/v1/builds/:ref/why",
    summary: "Why a build waits or failed",
    params: buildRefParams,
    response: whyAnswer.extend({ build: rowId }),
  },
});
