import { readFile } from "node:fs/promises";
import { isCodedError } from "@debian-bootc/core";
import {
  archMatches,
  checkBinaryIdentity,
  type DebInfo,
  parseBuildinfo,
  parseChanges,
  parseDsc,
  readDeb,
  type SourceControl,
  sourceOfBinary,
} from "@debian-bootc/debian";
import type { BuildArchRequest, ResultFile } from "../api/tasks.js";
import { orchestratorError } from "../errors.js";
import type { ArtifactStore } from "./artifact-store.js";

/**
 * A builder's results are hostile input until checked: before a buildArch task may complete, every file
 * it reports is read back from the artifact store and held against the .dsc the task was made from.
 *
 * - each .deb is a readable .deb whose control fields are valid Debian values (package-fields), whose
 *   Source and Version are the .dsc's (a binNMU names the .dsc's version as `Source: name (version)`),
 *   whose Package is in the .dsc's Binary list (or is debhelper's automatic `-dbgsym` package of one) and whose Architecture is the task's (or `all`, when the
 *   .dsc builds arch:all packages); its file name is `package_version_arch.deb` and whatever the builder
 *   said about it matches the control file;
 * - a .changes or .buildinfo names the same source and version, only the .dsc's binaries and the task's
 *   architectures, and lists the reported files with their sizes and digests;
 * - a buildArch result has at least one .deb.
 *
 * Anything else is BUILD_RESULT_INVALID, whose message names the result file and field and never a path
 * of the hub. The checked binaries (from the control files, not from what the builder said) are returned
 * for the build's record.
 */

export interface CheckedBinary {
  name: string;
  version: string;
  arch: string;
  source: string;
  filename: string;
  sha256: string;
  size: number;
}

const MAX_CONTROL_FILE = 1024 * 1024;

function invalid(message: string, details: Record<string, unknown> = {}, cause?: unknown): never {
  throw orchestratorError("BUILD_RESULT_INVALID", message, {
    hint: "the builder's results must be the binary packages of the .dsc it was given; the task failed and no tag changed",
    details,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** A debian-package error about a stored file, told with the result file's name instead of the store's path. */
function retold(error: unknown, path: string, name: string): string {
  const message = isCodedError(error) ? error.message : String((error as Error)?.message ?? error);
  return message.split(path).join(name);
}

async function readSmall(store: ArtifactStore, file: { name: string; sha256: string; size: number }): Promise<string> {
  if (file.size > MAX_CONTROL_FILE)
    invalid(`${file.name} is ${file.size} bytes; the limit for a control file is ${MAX_CONTROL_FILE}`, { file: file.name });
  return readFile(store.pathOf(file.sha256), "utf8");
}

/** The .dsc the task was made from, parsed with the debian package's parser. */
export async function readTaskDsc(store: ArtifactStore, request: Pick<BuildArchRequest, "dsc" | "files">): Promise<SourceControl> {
  const ref = request.files.find((f) => f.name === request.dsc);
  if (!ref) return invalid(`the task's .dsc ${request.dsc} is not among its files`, { file: request.dsc });
  const path = store.pathOf(ref.sha256);
  try {
    return parseDsc(await readSmall(store, ref), request.dsc);
  } catch (error) {
    return invalid(`the task's .dsc cannot be read: ${retold(error, path, request.dsc)}`, { file: request.dsc }, error);
  }
}

/** Whether a binary's version belongs to the .dsc: the same, or a binNMU of it (`Source: name (version)`). */
function sourceVersionOf(info: DebInfo): string {
  const field = info.control.get("Source")?.trim();
  const m = field === undefined ? null : /^\S+\s*\((\S+)\)$/.exec(field);
  return m?.[1] ?? info.control.require("Version");
}

/** debhelper's automatic debug package of one of the .dsc's binaries (`hello-dbgsym`, not in Binary). */
function isDebugPackageOf(info: DebInfo, name: string, dsc: SourceControl): boolean {
  return (
    name.endsWith("-dbgsym") &&
    dsc.binaries.includes(name.slice(0, -"-dbgsym".length)) &&
    info.control.get("Auto-Built-Package")?.trim() === "debug-symbols"
  );
}

/** The architectures a build on `arch` may produce for this .dsc. */
function allowedArchitectures(dsc: SourceControl, arch: string): Set<string> {
  const allowed = new Set<string>();
  if (dsc.architectures.some((pattern) => pattern !== "all" && archMatches(arch, pattern))) allowed.add(arch);
  if (dsc.architectures.includes("all")) allowed.add("all");
  return allowed;
}

async function checkDeb(
  store: ArtifactStore,
  file: ResultFile,
  dsc: SourceControl,
  allowed: Set<string>,
  request: Pick<BuildArchRequest, "arch">,
): Promise<CheckedBinary> {
  const where = { file: file.name };
  if (file.kind !== "deb" || !file.name.endsWith(".deb"))
    invalid(`${file.name}: a binary package must be a .deb reported with kind "deb" (got kind ${JSON.stringify(file.kind)})`, where);
  const path = store.pathOf(file.sha256);
  let info: DebInfo;
  try {
    info = await readDeb(path);
  } catch (error) {
    return invalid(`${file.name} is not a readable .deb: ${retold(error, path, file.name)}`, where, error);
  }
  let identity: ReturnType<typeof checkBinaryIdentity>;
  try {
    identity = checkBinaryIdentity(
      {
        package: info.control.require("Package"),
        version: info.control.require("Version"),
        architecture: info.control.require("Architecture"),
        source: sourceOfBinary(info.control),
      },
      file.name,
    );
  } catch (error) {
    return invalid(retold(error, path, file.name), { ...where, ...(isCodedError(error) ? { reason: error.code } : {}) }, error);
  }
  const { package: name, version, architecture: arch, source } = identity;
  const mismatch = (field: string, found: string, expected: string): never =>
    invalid(`${file.name}: control field ${field} is ${JSON.stringify(found)}, the .dsc ${expected}`, { ...where, field });
  if (source !== dsc.source) mismatch("Source", source, `is ${dsc.source}`);
  if (sourceVersionOf(info) !== dsc.version) mismatch("Version", version, `is ${dsc.source} ${dsc.version}`);
  if (!dsc.binaries.includes(name) && !isDebugPackageOf(info, name, dsc))
    mismatch("Package", name, `lists only ${dsc.binaries.join(", ")} in Binary`);
  if (!allowed.has(arch)) mismatch("Architecture", arch, `says ${dsc.architectures.join(" ")} and this task builds ${request.arch}`);
  const expectedName = `${name}_${version.replace(/^[0-9]+:/, "")}_${arch}.deb`;
  if (file.name !== expectedName) invalid(`${file.name}: a .deb of ${name} ${version} ${arch} is named ${expectedName}`, where);
  for (const [field, said, actual] of [
    ["package", file.package, name],
    ["version", file.version, version],
    ["arch", file.arch, arch],
  ] as const)
    if (said !== undefined && said !== actual)
      invalid(`${file.name}: the builder reported ${field} ${JSON.stringify(said)}, the control file says ${JSON.stringify(actual)}`, {
        ...where,
        field,
      });
  return { name, version, arch, source, filename: file.name, sha256: file.sha256, size: file.size };
}

/** A .changes or .buildinfo: the same source, version, binaries and architectures, and the reported files' digests. */
async function checkUploadFile(store: ArtifactStore, file: ResultFile, dsc: SourceControl, allowed: Set<string>, reported: ResultFile[]) {
  const path = store.pathOf(file.sha256);
  let parsed: ReturnType<typeof parseChanges> | ReturnType<typeof parseBuildinfo>;
  try {
    const text = await readSmall(store, file);
    parsed = file.name.endsWith(".changes") ? parseChanges(text, file.name) : parseBuildinfo(text, file.name);
  } catch (error) {
    if (isCodedError(error, "BUILD_RESULT_INVALID")) throw error;
    return invalid(`${file.name} cannot be read: ${retold(error, path, file.name)}`, { file: file.name }, error);
  }
  const where = (field: string) => ({ file: file.name, field });
  if (parsed.source !== dsc.source) invalid(`${file.name}: Source is ${parsed.source}, the .dsc's is ${dsc.source}`, where("Source"));
  if ((parsed.sourceVersion ?? parsed.version) !== dsc.version)
    invalid(`${file.name}: Version is ${parsed.version}, the .dsc's is ${dsc.version}`, where("Version"));
  // dh_strip's automatic debug packages are named after the binaries they belong to
  const stray = parsed.binaries.filter((b) => !dsc.binaries.includes(b) && !dsc.binaries.includes(b.replace(/-dbgsym$/, "")));
  if (stray.length) invalid(`${file.name}: Binary names ${stray.join(", ")}, which the .dsc does not list`, where("Binary"));
  const strayArch = parsed.architectures.filter((a) => a !== "source" && !allowed.has(a));
  if (strayArch.length)
    invalid(`${file.name}: Architecture names ${strayArch.join(" ")}, which this task does not build`, where("Architecture"));
  for (const listed of parsed.files) {
    const result = reported.find((f) => f.name === listed.name);
    if (!result) {
      if (listed.name.endsWith(".deb")) invalid(`${file.name} lists ${listed.name}, which the builder did not report`, where("Files"));
      continue;
    }
    if (result.size !== listed.size || (listed.sha256 !== undefined && listed.sha256 !== result.sha256))
      invalid(`${file.name} lists ${listed.name} with other size or SHA256 than the reported file`, where("Checksums-Sha256"));
  }
}

/** Check a buildArch result against the task's .dsc; returns the binaries to record. BUILD_RESULT_INVALID otherwise. */
export async function checkBuildResult(
  store: ArtifactStore,
  request: Pick<BuildArchRequest, "dsc" | "files" | "arch">,
  files: ResultFile[],
): Promise<CheckedBinary[]> {
  const dsc = await readTaskDsc(store, request);
  const allowed = allowedArchitectures(dsc, request.arch);
  const binaries: CheckedBinary[] = [];
  for (const file of files) {
    if (file.kind === "deb" || file.name.endsWith(".deb")) binaries.push(await checkDeb(store, file, dsc, allowed, request));
    else if (file.name.endsWith(".changes") || file.name.endsWith(".buildinfo")) await checkUploadFile(store, file, dsc, allowed, files);
  }
  if (binaries.length === 0) invalid(`the result of building ${dsc.source} ${dsc.version} on ${request.arch} has no .deb`);
  const seen = new Set<string>();
  for (const b of binaries) {
    const key = `${b.name} ${b.arch}`;
    if (seen.has(key)) invalid(`${b.name} ${b.arch} is reported twice`, { file: b.filename });
    seen.add(key);
  }
  return binaries;
}
