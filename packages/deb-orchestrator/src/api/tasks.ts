/**
 * Tasks on the wire: their states, their methods and the requests and results they carry. The hub, the
 * builder and the clients all read these from here, so a task's shape is written once.
 */
import { z } from "zod";

export const taskStates = ["free", "assigned", "open", "closed", "failed", "canceled"] as const;
export type TaskState = (typeof taskStates)[number];
export const terminalStates = ["closed", "failed", "canceled"] as const;
export const activeStates = ["assigned", "open"] as const;

/** Tasks builders run; every other method runs inside the hub. */
export const builderMethods = ["buildArch", "noop"] as const;
export const hubMethods = ["build", "tagBuild", "newRepo"] as const;
export const taskMethods = [...hubMethods, ...builderMethods] as const;
export type TaskMethod = (typeof taskMethods)[number];

export function isTerminal(state: string): boolean {
  return (terminalStates as readonly string[]).includes(state);
}

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const size = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const sourceFileRef = z.object({ name: z.string().min(1).max(255), sha256, size });
export type SourceFileRef = z.infer<typeof sourceFileRef>;

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
});
export type BuildArchRequest = z.infer<typeof buildArchRequest>;

/** The requests of the hub's own steps after a build, and of a builder task that builds nothing. */
export const tagBuildRequest = z.object({ tag: z.string(), build: z.number().int() });
export const newRepoRequest = z.object({ tag: z.string() });
export const noopRequest = z.object({ sleepMs: z.number().int().min(0).optional() });

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
