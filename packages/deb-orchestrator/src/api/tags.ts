/** Tags (with inheritance and their repositories), the builds in them, external repositories and targets. */
import { z } from "zod";
import { created, name, nameParams, operations, queued, rowId, time } from "./operation.js";

const arch = z.string().min(1).max(32);

export const tagSpec = z.object({
  arches: z.array(arch).max(32).optional(),
  parents: z.array(name).max(32).optional(),
  externalRepos: z.array(name).max(32).optional(),
  /** Automatic rebuilds of the tag's reverse build-dependencies when a build lands: the most one change may queue (0: off). */
  autoRebuild: z.number().int().min(0).max(1000).optional(),
});
export type TagSpec = z.infer<typeof tagSpec>;

export const tagView = z.object({
  id: rowId,
  name: z.string(),
  arches: z.array(z.string()),
  parents: z.array(z.string()),
  /** The tag and its ancestors, nearest first. */
  inheritance: z.array(z.string()),
  externalRepos: z.array(z.string()),
  /** The newest ready repository snapshot. */
  repo: z.object({ number: z.number().int(), createdAt: time }).nullable(),
  /** The automatic rebuild cap (0: off). */
  autoRebuild: z.number().int(),
});
export type TagView = z.infer<typeof tagView>;

/** A build in a tag; `tag` says which tag of the inheritance it comes from (latest and inherit listings). */
export const taggedBuild = z.object({
  buildId: rowId,
  name: z.string(),
  version: z.string(),
  tag: z.string().optional(),
  taggedAt: time,
});
export type TaggedBuild = z.infer<typeof taggedBuild>;

export const externalRepoView = z.object({ name: z.string(), url: z.string(), suite: z.string(), components: z.array(z.string()) });
export type ExternalRepoView = z.infer<typeof externalRepoView>;

export const targetView = z.object({ name: z.string(), buildTag: z.string(), destTag: z.string() });
export type TargetView = z.infer<typeof targetView>;

const buildRef = z.string().min(1).max(300);

/** One automatic rebuild as planned (the dry run) or recorded. */
const plannedRebuild = z.object({
  level: z.number().int(),
  source: z.string(),
  baseBuild: rowId,
  baseVersion: z.string(),
  version: z.string(),
  binnmu: z.number().int(),
  reason: z.string(),
  because: z.object({ relation: z.string(), source: z.string() }),
});
export const rebuildPlan = z.object({
  tag: z.string(),
  cap: z.number().int(),
  trigger: z.object({ build: rowId, name: z.string(), version: z.string() }),
  rebuilds: z.array(plannedRebuild),
  overCap: z.boolean(),
});
export type RebuildPlanView = z.infer<typeof rebuildPlan>;
export const rebuildList = z.object({
  tag: z.string(),
  cap: z.number().int(),
  triggers: z.array(
    z.object({
      build: rowId,
      name: z.string(),
      version: z.string(),
      outcome: z.string(),
      at: time,
      rebuilds: z.array(
        z.object({
          level: z.number().int(),
          source: z.string(),
          version: z.string(),
          reason: z.string(),
          state: z.string(),
          task: rowId.nullable(),
          build: rowId.nullable(),
        }),
      ),
    }),
  ),
});
export type RebuildListView = z.infer<typeof rebuildList>;
/** The newRepo task queued after a change, or null when the caller asked for no regeneration. */
const repoTask = z.object({ repoTask: rowId.nullable() });

export const tagOperations = operations({
  listTags: { method: "GET", path: "/api/v1/tags", summary: "List tags", response: z.array(tagView) },
  getTag: { method: "GET", path: "/api/v1/tags/:name", summary: "One tag with its inheritance", params: nameParams, response: tagView },
  createTag: {
    method: "POST",
    path: "/api/v1/tags",
    permission: "tag",
    summary: "Create a tag",
    body: tagSpec.extend({ name }),
    status: 201,
    response: created,
  },
  editTag: {
    method: "PATCH",
    path: "/api/v1/tags/:name",
    permission: "tag",
    summary: "Change a tag's arches, parents or external repos",
    params: nameParams,
    body: tagSpec,
    response: tagView,
  },
  listTagged: {
    method: "GET",
    path: "/api/v1/tags/:name/builds",
    summary: "Builds in a tag",
    params: nameParams,
    query: z.object({ inherit: z.boolean().optional(), latest: z.boolean().optional() }),
    response: z.array(taggedBuild),
  },
  latestTagged: {
    method: "GET",
    path: "/api/v1/tags/:name/latest/:pkg",
    summary: "Latest build of a package in a tag (with inheritance)",
    params: z.object({ name, pkg: z.string().min(1).max(128) }),
    response: taggedBuild.required({ tag: true }),
  },
  tagBuild: {
    method: "POST",
    path: "/api/v1/tags/:name/builds",
    permission: "tag",
    summary: "Tag a build (then regenerate the repo)",
    params: nameParams,
    body: z.object({ build: buildRef, regen: z.boolean().optional() }),
    response: repoTask,
  },
  untagBuild: {
    method: "DELETE",
    path: "/api/v1/tags/:name/builds",
    permission: "tag",
    summary: "Untag a build (then regenerate the repo)",
    params: nameParams,
    query: z.object({ build: buildRef, regen: z.boolean().optional() }),
    response: repoTask,
  },
  listRebuilds: {
    method: "GET",
    path: "/api/v1/tags/:name/rebuilds",
    summary: "A tag's automatic rebuilds: what each landed build caused and where each rebuild is",
    params: nameParams,
    response: rebuildList,
  },
  planRebuilds: {
    method: "GET",
    path: "/api/v1/tags/:name/rebuilds/plan",
    summary: "Dry run: the automatic rebuilds a build (default: the one tagged last) landing in the tag would queue, in order",
    params: nameParams,
    query: z.object({ build: buildRef.optional() }),
    response: rebuildPlan,
  },
  regenRepo: {
    method: "POST",
    path: "/api/v1/tags/:name/regen",
    permission: "repo",
    summary: "Regenerate a tag's APT repository (newRepo task)",
    params: nameParams,
    status: 202,
    response: queued,
  },
  listExternalRepos: {
    method: "GET",
    path: "/api/v1/external-repos",
    summary: "List external repositories",
    response: z.array(externalRepoView),
  },
  createExternalRepo: {
    method: "POST",
    path: "/api/v1/external-repos",
    permission: "repo",
    summary: "Add an external repository (a Debian suite used as build input)",
    body: z.object({ name, url: z.string().min(1).max(500), suite: name, components: z.array(name).max(16).optional() }),
    status: 201,
    response: created,
  },
  listTargets: { method: "GET", path: "/api/v1/targets", summary: "List targets", response: z.array(targetView) },
  createTarget: {
    method: "POST",
    path: "/api/v1/targets",
    permission: "tag",
    summary: "Create a target (build tag -> destination tag)",
    body: targetView.extend({ name, buildTag: name, destTag: name }),
    status: 201,
    response: created,
  },
});
