import type { z } from "zod";
import {
  buildArchRequest,
  buildRequest,
  newRepoRequest,
  noopRequest,
  type TaskMethod,
  tagBuildRequest,
  taskMethods,
} from "../../../api/tasks.js";
import { orchestratorError } from "../../../errors.js";
import type { Stepper } from "../step-runner.js";
import type { TaskRow } from "../transitions.js";
import { stepBuild } from "./build.js";
import { stepNewRepo } from "./new-repo.js";
import { stepTagBuild } from "./tag-build.js";

/**
 * Every task method: the schema of its request and, for the methods the hub runs itself, its step (what
 * to do next, looking at the task and its children). Builder methods have no step here: builders run
 * them and report through the scheduler (buildArch, noop).
 */
interface Method<S extends z.ZodType> {
  request: S;
  step?: (run: Stepper, task: TaskRow, request: z.infer<S>) => Promise<void>;
}
const method = <S extends z.ZodType>(spec: Method<S>) => spec;

const methods = {
  build: method({ request: buildRequest, step: stepBuild }),
  buildArch: method({ request: buildArchRequest }),
  tagBuild: method({ request: tagBuildRequest, step: stepTagBuild }),
  newRepo: method({ request: newRepoRequest, step: stepNewRepo }),
  noop: method({ request: noopRequest }),
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

/** The next step of a hub-side task, or undefined for a builder method. */
export function stepOf(task: TaskRow): ((run: Stepper) => Promise<void>) | undefined {
  if (!isMethod(task.method)) return undefined;
  const spec: Method<z.ZodType> = methods[task.method];
  const step = spec.step;
  if (!step) return undefined;
  return (run) => step(run, task, requestOf(task.method as TaskMethod, task));
}
