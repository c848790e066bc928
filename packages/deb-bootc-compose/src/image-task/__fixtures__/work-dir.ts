import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { hashFileWith } from "@debian-bootc/debian";
import type { ImageTaskInputs, TaskInputFile } from "../task-inputs.js";

/** The request's file list of inputs (path, sha256, size), as the client uploads them. */
export async function listedFiles(files: readonly TaskInputFile[]): Promise<Array<{ path: string; sha256: string; size: number }>> {
  return Promise.all(
    files.map(async (f) => {
      const { sha256, size } = await hashFileWith(f.source, ["sha256"]);
      return { path: f.path, sha256, size };
    }),
  );
}

/**
 * A work directory W laid out as the builder lays it out for a composeImage task (the contract): request.json,
 * definition/<definitionFile> and its files, snapshot/<path> for each snapshot file, an empty out/.
 */
export async function prepareWorkDir(workDir: string, compose: string, inputs: ImageTaskInputs): Promise<void> {
  const place = async (files: readonly TaskInputFile[], under: string) => {
    for (const f of files) {
      const target = join(workDir, under, f.path);
      await mkdir(dirname(target), { recursive: true });
      await copyFile(f.source, target);
    }
  };
  await place(inputs.snapshot, "snapshot");
  await place(inputs.definitionFiles, "definition");
  await mkdir(join(workDir, "definition"), { recursive: true });
  await writeFile(join(workDir, "definition", inputs.definitionFile), inputs.definition);
  await mkdir(join(workDir, "out"), { recursive: true });
  const request = {
    compose,
    definitionFile: inputs.definitionFile,
    definition: inputs.definition,
    variant: inputs.variant,
    arch: inputs.arch,
    snapshot: await listedFiles(inputs.snapshot),
    definitionFiles: await listedFiles(inputs.definitionFiles),
    state: inputs.state,
  };
  await writeFile(join(workDir, "request.json"), JSON.stringify(request, null, 2));
}
