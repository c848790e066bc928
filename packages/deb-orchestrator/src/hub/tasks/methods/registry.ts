import type { z } from "zod";
import {
  buildArchRequest,
  buildRequest,
  composeImageRequest,
  diskImageRequest,
  newRepoRequest,
  noopRequest,
  type TaskMethod,
  tagBuildRequest,
  taskMethods,
  updateTestRequest,
} from "../../../api/tasks.js";
import { orchestratorError } from "../../../errors.js";
import type { Stepper } from "../step-runner.js";
import type { TaskRow } from "../transitions.js";
import { stepBuild } from "./build.js";
import { stepNewRepo } from "./new-repo.js";
import { stepTagBuild } from "./tag-build.js";

/** What a task works on, in a few words (the web UI's task lists), with an optional detail shown muted. */
export interface TaskSubject {
  text: string;
  detail?: string;
}

/**
 * Every task method: the schema of its request, what it works on and, for the methods the hub runs
 * itself, its step (what to do next, looking at the task and its children). Builder methods have no step
 * here: builders run them and report through the scheduler (buildArch, noop, composeImage, diskImage, updateTest).
 */
interface Method<S extends z.ZodType> {
  request: S;
  subject?: (request: z.infer<S>) => TaskSubject;
  step?: (run: Stepper, task: TaskRow, request: z.infer<S>) => Promise<void>;
}
const method = <S extends z.ZodType>(spec: Method<S>) => spec;

const methods = {
  build: method({ request: buildRequest, subject: (r) => ({ text: r.dsc, detail: `→ ${r.target}` }), step: stepBuild }),
  buildArch: method({ request: buildArchRequest, subject: (r) => ({ text: `${r.source} ${r.version}` }) }),
  tagBuild: method({ request: tagBuildRequest, subject: () => ({ text: "tag into destination" }), step: stepTagBuild }),
  newRepo: method({ request: newRepoRequest, subject: (r) => ({ text: `repo of ${r.tag}` }), step: stepNewRepo }),
  noop: method({ request: noopRequest }),
  composeImage: method({ request: composeImageRequest, subject: (r) => ({ text: `${r.variant}/${r.arch}`, detail: r.compose }) }),
  diskImage: method({
    request: diskImageRequest,
    subject: (r) => ({ text: `disk images ${r.variant}/${r.arch}`, detail: r.commit.checksum.slice(0, 12) }),
  }),
  updateTest: method({
    request: updateTestRequest,
    subject: (r) => ({ text: `update test ${r.variant}/${r.arch}`, detail: `${r.from.commit.slice(0, 12)} → ${r.to.commit.slice(0, 12)}` }),
  }),
} satisfies Record<TaskMethod, Method<z.ZodType>>;

function isMethod(name: string): name is TaskMethod {
  return (taskMethods as readonly string[]).includes(name);
}

/** A stored task's request, checked against its method's schema. */
export function requestOf<M extends TaskMethod>(method: M, task: Pick<TaskRow, "id" | "request">): z.infer<(typeof methods)[M]["request"]> {
  const parsed = methods[method].request.safeParse(JSON.parse(task.request));
  if (!parsed.success)
    throw orchestratorError("REQUEST_INVALID", `task ${task.id}'s ${method} request does not match its schema: ${parsed.error.message}`);
  return parsed.data as z.infer<(typeof methods)[M]["request"]>;
}

/** What a stored task works on, or undefined for a method without a subject or a request that does not parse. */
export function subjectOf(task: Pick<TaskRow, "method" | "request">): TaskSubject | undefined {
  if (!isMethod(task.method)) return undefined;
  const spec: Method<z.ZodType> = methods[task.method];
  let request: unknown;
  try {
    request = JSON.parse(task.request);
  } catch {
    return undefined;
  }
  const parsed = spec.request.safeParse(request);
  return parsed.success ? spec.subject?.(parsed.data) : undefined;
}

/** The next step of a hub-side task, or undefined for a builder method. */
export function stepOf(task: TaskRow): ((run: Stepper) => Promise<void>) | undefined {
  if (!isMethod(task.method)) return undefined;
  const spec: Method<z.ZodType> = methods[task.method];
  const step = spec.step;
  if (!step) return undefined;
  return (run) => step(run, task, requestOf(task.method as TaskMethod, task));
}
