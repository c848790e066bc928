/**
 * Tasks on the wire: their states, their methods and the requests and results they carry. The hub, the
 * builder and the clients all read these from here, so a task's shape is written once.
 */
import { z } from "zod";
import { composeId } from "./composes.js";
import { count, idParams, ok, operations, queued, rowId, sha256, size, time } from "./operation.js";

/**
 * `dep-wait`: a builder task held by the hub because its build-dependencies cannot be satisfied from its
 * build tag's repository and external repositories yet; it occupies no builder and becomes free when a
 * regenerated repository satisfies them (hub/tasks/dep-wait.ts).
 */
export const taskStates = ["free", "dep-wait", "assigned", "open", "closed", "failed", "canceled"] as const;
export type TaskState = (typeof taskStates)[number];
export const terminalStates = ["closed", "failed", "canceled"] as const;
export const activeStates = ["assigned", "open"] as const;

/** Tasks builders run; every other method runs inside the hub. */
export const builderMethods = ["buildArch", "noop", "composeImage", "diskImage", "updateTest"] as const;
export type BuilderMethod = (typeof builderMethods)[number];
export const hubMethods = ["build", "tagBuild", "newRepo"] as const;
export const taskMethods = [...hubMethods, ...builderMethods] as const;
export type TaskMethod = (typeof taskMethods)[number];

/**
 * What a builder declares it can do at check-in: `build` (package builds with deb-mock) and `image`
 * (a compose's image phases: needs root and the image tools). A claim only hands a host the methods of
 * its capabilities.
 */
export const builderCapabilities = ["build", "image"] as const;
export type BuilderCapability = (typeof builderCapabilities)[number];
export const defaultCapabilities: readonly BuilderCapability[] = ["build"];
export const methodCapability: Record<BuilderMethod, BuilderCapability> = {
  buildArch: "build",
  noop: "build",
  composeImage: "image",
  diskImage: "image",
  updateTest: "image",
};

/** The capability a builder needs for a task of this method; null for the hub's own methods. */
export function capabilityOf(method: string): BuilderCapability | null {
  return (builderMethods as readonly string[]).includes(method) ? methodCapability[method as BuilderMethod] : null;
}

/** The builder methods a host with these capabilities may claim. */
export function methodsFor(capabilities: readonly string[]): BuilderMethod[] {
  return builderMethods.filter((m) => capabilities.includes(methodCapability[m]));
}

export function isTerminal(state: string): boolean {
  return (terminalStates as readonly string[]).includes(state);
}

export const sourceFileRef = z.object({ name: z.string().min(1).max(255), sha256, size });
export type SourceFileRef = z.infer<typeof sourceFileRef>;

/** A binary-only rebuild (binNMU): the binaries get VERSION+bN; `date` (ms) is the changelog entry's, the same on every architecture. */
export const binNmu = z.object({ number: z.number().int().min(1).max(9999), reason: z.string().min(1).max(500), date: time.optional() });
export type BinNmuRequest = z.infer<typeof binNmu>;

export const buildRequest = z.object({
  target: z.string().min(1).max(64),
  /** The .dsc (one of `files`) and every file it lists, uploaded to the artifact store beforehand. */
  dsc: z.string().min(1).max(255),
  files: z.array(sourceFileRef).max(100),
  scratch: z.boolean().optional(),
  arches: z.array(z.string().min(1).max(32)).max(100).optional(),
  priority: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
  binnmu: binNmu.optional(),
});
export type BuildRequest = z.infer<typeof buildRequest>;

export const extraRepo = z.object({
  url: z.string(),
  suite: z.string(),
  components: z.array(z.string()),
  /** Armored public key the repository is signed with (absent: the builder trusts it as configured). */
  key: z.string().optional(),
});
export type ExtraRepo = z.infer<typeof extraRepo>;

export const buildArchRequest = z.object({
  source: z.string(),
  version: z.string(),
  arch: z.string(),
  dsc: z.string(),
  files: z.array(sourceFileRef),
  buildTag: z.string(),
  extraRepos: z.array(extraRepo),
  binnmu: binNmu.optional(),
});
export type BuildArchRequest = z.infer<typeof buildArchRequest>;

/** The requests of the hub's own steps after a build, and of a builder task that builds nothing. */
export const tagBuildRequest = z.object({ tag: z.string(), build: z.number().int() });
export const newRepoRequest = z.object({ tag: z.string() });
export const noopRequest = z.object({ sleepMs: z.number().int().min(0).optional() });

/** One path component: starts with a letter or digit, so never '.', '..' or hidden. */
const pathComponent = "[A-Za-z0-9][A-Za-z0-9._+~:-]{0,254}";
/** A file of a compose's APT snapshot (dists/..., pool/...): a relative path of such components. */
export const snapshotFile = z.object({
  path: z
    .string()
    .min(1)
    .max(1000)
    .regex(new RegExp(`^(?:${pathComponent}/){0,15}${pathComponent}$`)),
  sha256,
  size,
});
export type SnapshotFile = z.infer<typeof snapshotFile>;

const composeVariant = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
const composeArch = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/);

/** The most an image task's `state` may weigh, serialised. */
export const MAX_IMAGE_STATE_BYTES = 4 * 1024 * 1024;

/**
 * composeImage: a compose's image phases up to the OCI image (rootfs, ostree, oci, lint) for one variant
 * and architecture, run by a builder with the `image` capability (the disk image is a diskImage task:
 * it deploys the commit once the client has signed it). The definition is the submitted text (the builder validates it again before using it);
 * the APT snapshot it installs from comes as artifacts of the hub's store.
 */
export const composeImageRequest = z.object({
  compose: composeId,
  /** The definition's file name (copied into the compose's metadata) and text. */
  definitionFile: z.string().regex(new RegExp(`^${pathComponent}$`)),
  definition: z
    .string()
    .min(1)
    .max(1024 * 1024),
  variant: composeVariant,
  arch: composeArch,
  snapshot: z.array(snapshotFile).min(1).max(100_000),
  /** The files the definition refers to (files' sources, scripts, keys), each path relative to the definition's directory. */
  definitionFiles: z.array(snapshotFile).max(1000).default([]),
  /**
   * What the image phases need from the client's compose state (snapshot suites, keys, package set...):
   * opaque to the hub and the builder; deb-bootc-compose validates it with its own schema. Never a private key.
   */
  state: z
    .record(z.string(), z.unknown())
    .refine((state) => Buffer.byteLength(JSON.stringify(state)) <= MAX_IMAGE_STATE_BYTES, "at most 4 MiB once serialised")
    .default({}),
});
export type ComposeImageRequest = z.infer<typeof composeImageRequest>;

const commitChecksum = z.string().regex(/^[0-9a-f]{64}$/, "an OSTree commit: 64 hex digits");

/** The most a commit's detached metadata (its signatures) may weigh, base64-encoded. */
export const MAX_COMMITMETA_BASE64 = 256 * 1024;

/**
 * diskImage: the disk images of one variant and architecture (image-build and, when asked, the marker
 * boot), run by a builder with the `image` capability after the client signed the commit its composeImage
 * task made: the commit's repository is that task's tar (in the hub's store), the signature the detached
 * metadata the client's signing wrote (ostree's objects/XX/REST.commitmeta), which the builder writes at
 * the path of `commit.checksum` only and verifies against the key the image trusts before deploying it.
 */
export const diskImageRequest = z.strictObject({
  compose: composeId,
  definitionFile: z.string().regex(new RegExp(`^${pathComponent}$`)),
  definition: z
    .string()
    .min(1)
    .max(1024 * 1024),
  variant: composeVariant,
  arch: composeArch,
  commit: z.strictObject({
    checksum: commitChecksum,
    /** The tar of the composeImage task's repository (its ostree-commit file). */
    repository: z.strictObject({ sha256, size }),
    /** The commit's detached metadata, base64 (absent when the definition signs nothing: no updates section). */
    commitmeta: z
      .string()
      .max(MAX_COMMITMETA_BASE64)
      .regex(/^[A-Za-z0-9+/]+={0,2}$/, "base64")
      .optional(),
  }),
  /** Opaque to the hub and the builder, as composeImage's: deb-bootc-compose validates it with its own schema. */
  state: z
    .record(z.string(), z.unknown())
    .refine((state) => Buffer.byteLength(JSON.stringify(state)) <= MAX_IMAGE_STATE_BYTES, "at most 4 MiB once serialised")
    .default({}),
});
export type DiskImageRequest = z.infer<typeof diskImageRequest>;
/** The repository tar's name in a diskImage task's W/inputs. */
export const DISK_REPOSITORY_TAR = "ostree-repo.tar";

/**
 * updateTest: the A/B update boot test of a compose's new commit, run by a builder with the `image`
 * capability: boot the previous compose's disk image, `ostree admin upgrade` over HTTP from the
 * repository the client signed (the channel's private key never leaves the client: the repository comes
 * as a tar), reboot into the new commit, roll back. Both files are artifacts of the hub's store.
 */
export const updateTestRequest = z.strictObject({
  compose: composeId,
  variant: composeVariant,
  arch: composeArch,
  /** The previous compose's disk image: a plain file name ending in its format. */
  image: z
    .strictObject({
      name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+~-]{0,200}\.(?:raw|qcow2)$/, "a plain file name ending in .raw or .qcow2"),
      format: z.enum(["raw", "qcow2"]),
      sha256,
      size,
    })
    .refine((image) => image.name.endsWith(`.${image.format}`), { message: "the name does not end in the format", path: ["name"] }),
  /** The tar of the signed scratch channel repository holding both commits. */
  repository: z.strictObject({ sha256, size }),
  /** The image's update remote (its /etc/ostree/remotes.d/<remote>.conf). */
  remote: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  firmware: z.enum(["uefi", "uefi-secure", "bios"]),
  from: z.strictObject({ commit: commitChecksum }),
  to: z.strictObject({ commit: commitChecksum, composeId }),
  accel: z.enum(["kvm", "tcg"]).optional(),
});
export type UpdateTestRequest = z.infer<typeof updateTestRequest>;
/** The repository tar's name in an updateTest task's W/inputs (an image's name ends in .raw or .qcow2, so never this). */
export const UPDATE_REPOSITORY_TAR = "repository.tar";

/**
 * Why these relative paths cannot all be written into one directory, or undefined: a path listed twice,
 * or a path that is also the directory of another (`dists` and `dists/InRelease`).
 */
export function pathConflict(paths: Iterable<string>): string | undefined {
  const files = new Set<string>();
  for (const path of paths) {
    if (files.has(path)) return `'${path}' is listed twice`;
    files.add(path);
  }
  for (const path of files)
    for (let slash = path.indexOf("/"); slash !== -1; slash = path.indexOf("/", slash + 1))
      if (files.has(path.slice(0, slash))) return `'${path.slice(0, slash)}' is a file and the directory of '${path}'`;
  return undefined;
}

export const resultFile = z.object({
  name: z.string().min(1).max(255),
  sha256,
  size,
  /** deb, dsc, buildinfo, changes, log, result ... */
  kind: z.string().min(1).max(32),
  /** For .debs: what the builder says the control file holds (checked against it; the control file is what is recorded). */
  package: z.string().min(1).max(128).optional(),
  version: z.string().min(1).max(256).optional(),
  arch: z.string().min(1).max(32).optional(),
});
export type ResultFile = z.infer<typeof resultFile>;

export const installedPackage = z.object({ name: z.string().max(128), version: z.string().max(256), arch: z.string().max(32) });

export const taskResult = z.looseObject({
  files: z.array(resultFile).max(10000).optional(),
  installed: z.array(installedPackage).max(20000).optional(),
});
export type TaskResult = z.infer<typeof taskResult>;

/** A task as the API shows it. */
export const taskView = z.object({
  id: rowId,
  parent: rowId.nullable(),
  label: z.string().nullable(),
  method: z.string(),
  arch: z.string().nullable(),
  state: z.enum(taskStates),
  priority: z.number().int(),
  host: z.string().nullable(),
  owner: rowId,
  attempts: count,
  build: rowId.nullable(),
  request: z.unknown(),
  result: z.unknown(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  createdAt: time,
  startedAt: time.nullable(),
  completedAt: time.nullable(),
  leaseExpires: time.nullable(),
});
export type TaskView = z.infer<typeof taskView>;

export const logView = z.object({ name: z.string(), size: count });

/** A task with its children, result files, logs and history (its events, each with the event's data). */
export const taskDetail = taskView.extend({
  children: z.array(taskView),
  files: z.array(z.object({ name: z.string(), sha256, size, kind: z.string() })),
  logs: z.array(logView),
  history: z.array(z.looseObject({ id: rowId, time, kind: z.string() })),
});
export type TaskDetail = z.infer<typeof taskDetail>;

/** One sentence on why a task waits, runs or failed (task 0: a build without a task). */
export const whyAnswer = z.object({
  task: count,
  state: z.string(),
  reason: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type WhyAnswer = z.infer<typeof whyAnswer>;

export const taskOperations = operations({
  listTasks: {
    method: "GET",
    path: "/api/v1/tasks",
    summary: "List tasks",
    query: z.object({
      state: z.array(z.enum(taskStates)).max(taskStates.length).optional(),
      method: z.string().min(1).max(32).optional(),
      parent: rowId.optional(),
      top: z.boolean().optional(),
      limit: z.number().int().min(1).max(1000).optional(),
    }),
    response: z.array(taskView),
  },
  submitNoop: {
    method: "POST",
    path: "/api/v1/tasks",
    permission: "build",
    summary: "Submit a builder task that needs no build (noop)",
    body: z.object({
      method: z.literal("noop"),
      arch: z.string().min(1).max(32),
      priority: z.number().int().min(0).max(1000).optional(),
      sleepMs: z.number().int().min(0).max(3_600_000).optional(),
    }),
    status: 202,
    response: queued,
  },
  queueComposeImage: {
    method: "POST",
    path: "/api/v1/composes/:id/image-tasks",
    permission: "build",
    summary: "Queue a running compose's image phases for one variant and architecture on a builder with the image capability",
    params: z.object({ id: composeId }),
    body: composeImageRequest.omit({ compose: true }),
    status: 202,
    response: queued,
  },
  queueDiskImage: {
    method: "POST",
    path: "/api/v1/composes/:id/disk-tasks",
    permission: "build",
    summary:
      "Queue a running compose's disk images of one variant and architecture (its signed commit) on a builder with the image capability",
    params: z.object({ id: composeId }),
    body: diskImageRequest.omit({ compose: true }),
    status: 202,
    response: queued,
  },
  queueUpdateTest: {
    method: "POST",
    path: "/api/v1/composes/:id/update-tests",
    permission: "build",
    summary: "Queue a running compose's A/B update boot test for one variant and architecture on a builder with the image capability",
    params: z.object({ id: composeId }),
    body: updateTestRequest.omit({ compose: true }),
    status: 202,
    response: queued,
  },
  getTask: {
    method: "GET",
    path: "/api/v1/tasks/:id",
    summary: "One task with children, files, logs and history",
    params: idParams,
    response: taskDetail,
  },
  whyTask: { method: "GET", path: "/api/v1/tasks/:id/why", summary: "Why a task waits or failed", params: idParams, response: whyAnswer },
  cancelTask: {
    method: "POST",
    path: "/api/v1/tasks/:id/cancel",
    permission: "build",
    summary: "Cancel a task and its subtasks",
    params: idParams,
    response: ok,
  },
  resubmitTask: {
    method: "POST",
    path: "/api/v1/tasks/:id/resubmit",
    permission: "build",
    summary: "Run a failed or canceled task again",
    params: idParams,
    status: 202,
    response: queued,
  },
  listTaskLogs: {
    method: "GET",
    path: "/api/v1/tasks/:id/logs",
    summary: "A task's logs and their sizes",
    params: idParams,
    response: z.array(logView),
  },
  readTaskLog: {
    method: "GET",
    path: "/api/v1/tasks/:id/logs/:name",
    summary: "Read a log from an offset; follow=true streams until the task ends",
    params: z.object({ id: rowId, name: z.string().min(1).max(100) }),
    query: z.object({ offset: size.optional(), follow: z.boolean().optional() }),
    produces: "text/plain",
  },
  downloadTaskFile: {
    method: "GET",
    path: "/api/v1/tasks/:id/files/:name",
    summary: "Download a task's result file",
    params: z.object({ id: rowId, name: z.string().min(1).max(255) }),
    produces: "application/octet-stream",
  },
});
