import { readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { type ComposeImageRequest, composeImageRequest } from "@debian-bootc/deb-orchestrator";
import { type LoadedDefinition, parseDefinition } from "../definition.js";
import { composeError } from "../errors.js";
import { imageTaskFiles } from "./task-inputs.js";
import { type ImageTaskState, parseImageTaskState } from "./task-state.js";

export interface ImageTask {
  /** W/request.json as the hub gave it (its state is checked by this package's schema). */
  request: ComposeImageRequest;
  state: ImageTaskState;
  /** The definition, from the request's text, its files under W/definition. */
  loaded: LoadedDefinition;
  /** W/definition/<definitionFile>. */
  definitionPath: string;
}

function invalid(message: string, field?: string): never {
  throw composeError("IMAGE_TASK_REQUEST_INVALID", `request.json: ${message}`, field ? { details: { field } } : {});
}

/**
 * The definition a task's request carries, as W/definition/<definitionFile>: refused when it sets
 * allowAbsolutePaths (a builder reads no host path) or lacks the request's variant or arch.
 */
export function taskDefinition(
  workDir: string,
  request: { definitionFile: string; definition: string; variant: string; arch: string },
): { loaded: LoadedDefinition; definitionPath: string } {
  const definitionDir = join(workDir, "definition");
  const definitionPath = join(definitionDir, request.definitionFile);
  const definition = parseDefinition(request.definition, definitionPath);
  if (definition.allowAbsolutePaths)
    invalid("the definition sets allowAbsolutePaths: a builder reads no path outside the task's files", "definition");
  if (!(request.variant in definition.variants)) invalid(`variant ${request.variant}: the definition has no such variant`, "variant");
  if (!(definition.arches as readonly string[]).includes(request.arch))
    invalid(`arch ${request.arch}: the definition does not compose it`, "arch");
  return { loaded: { definition, path: definitionPath, baseDir: definitionDir }, definitionPath };
}

/** W/request.json parsed as JSON; IMAGE_TASK_REQUEST_INVALID when it is not. */
export async function readRequestJson(workDir: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(join(workDir, "request.json"), "utf8"));
  } catch (error) {
    throw composeError("IMAGE_TASK_REQUEST_INVALID", `${join(workDir, "request.json")}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Read and check W/request.json: the request's schema (every path one of plain components, never '..'),
 * the state's, and the definition, whose referenced files must be the ones the request lists (the builder
 * downloaded those into W/definition and nothing else) and which may not name host paths.
 */
export async function readImageTask(workDir: string): Promise<ImageTask> {
  const raw = await readRequestJson(workDir);
  const parsed = composeImageRequest.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    invalid(`${issue.path.join(".")}: ${issue.message}`, issue.path.join("."));
  }
  const request = parsed.data;
  const state = parseImageTaskState(request.state);
  const { loaded, definitionPath } = taskDefinition(workDir, request);
  // the builder fetched the listed files and no others: a file the definition names must be among them
  const listed = new Set(request.definitionFiles.map((f) => f.path));
  for (const ref of imageTaskFiles(loaded)) {
    const path = relative(loaded.baseDir, ref.path);
    if (!listed.has(path)) invalid(`${ref.field}: ${path} is not among the request's definitionFiles`, "definitionFiles");
  }
  return { request, state, loaded, definitionPath };
}
