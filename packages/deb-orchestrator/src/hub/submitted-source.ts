import { readFile } from "node:fs/promises";
import { isCodedError } from "@debian-bootc/core";
import { parseDsc, type SourceControl } from "@debian-bootc/debian";
import type { BuildRequest } from "../api/tasks.js";
import { orchestratorError } from "../errors.js";
import type { ArtifactStore } from "./artifact-store.js";

const MAX_DSC = 1024 * 1024;

/**
 * A submitted .dsc, read with the debian package's parser (every field it knows, Build-Depends and the
 * other relation fields included): anything it refuses is SOURCE_INVALID. The hub needs the
 * Checksums-Sha256 list to match the uploaded files, so a .dsc without one is refused too.
 */
export function parseSubmittedDsc(text: string, name = "the .dsc"): SourceControl & { files: { sha256: string }[] } {
  let control: SourceControl;
  try {
    control = parseDsc(text, name);
  } catch (error) {
    if (!isCodedError(error)) throw error;
    throw orchestratorError("SOURCE_INVALID", `.dsc: ${error.message}`, { cause: error });
  }
  for (const file of control.files)
    if (file.sha256 === undefined) throw orchestratorError("SOURCE_INVALID", `.dsc: ${file.name} has no Checksums-Sha256 entry`);
  return control as SourceControl & { files: { sha256: string }[] };
}

/**
 * The .dsc of a build request, from the artifact store, parsed, with every file it lists among the
 * uploaded ones with the same size and sha256. Checked when the build is submitted (a bad one is a 400)
 * and again by the build's first step (a resubmitted task).
 */
export async function checkSubmittedSource(store: ArtifactStore, request: Pick<BuildRequest, "dsc" | "files">): Promise<SourceControl> {
  const dscRef = request.files.find((f) => f.name === request.dsc);
  if (!dscRef) throw orchestratorError("SOURCE_INVALID", `the .dsc '${request.dsc}' is not among the uploaded files`);
  if (dscRef.size > MAX_DSC) throw orchestratorError("SOURCE_INVALID", `the .dsc is ${dscRef.size} bytes; the limit is 1 MiB`);
  const control = parseSubmittedDsc(await readFile(store.pathOf(dscRef.sha256), "utf8"), request.dsc);
  for (const listed of control.files) {
    const uploaded = request.files.find((f) => f.name === listed.name);
    if (!uploaded) throw orchestratorError("SOURCE_INVALID", `the .dsc lists '${listed.name}', which was not uploaded`);
    if (uploaded.sha256 !== listed.sha256 || uploaded.size !== listed.size)
      throw orchestratorError("SOURCE_INVALID", `'${listed.name}' differs from the .dsc's Checksums-Sha256 entry`);
  }
  return control;
}
