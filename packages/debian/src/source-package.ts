import { open } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { type Paragraph, parseDeb822Single } from "./deb822.js";
import { debianError } from "./errors.js";
import { type ListedFile, parseListedFiles, verifyListedFiles } from "./listed-files.js";
import { checkPackageName, checkSourceName, checkVersion } from "./package-fields.js";
import { parseRelations, type Relation } from "./relation.js";
import { isSignedMessage, parseSignedMessage } from "./signed-message.js";
import { parseVersion } from "./version.js";

/**
 * Debian source control files (.dsc): the typed fields the build tools need, the merged file list, and a
 * check that the listed files are beside it with the right sizes and digests.
 */
export interface PackageListEntry {
  package: string;
  type: string;
  section: string;
  priority: string;
  /** Further `key=value` columns, such as `arch=any`. */
  extra: Record<string, string>;
}

export interface SourceControl {
  /** All fields as written, for anything not typed below. */
  paragraph: Paragraph;
  /** The signature block when the file is OpenPGP-signed (verification is the signing module's job). */
  signature?: string;
  format: string;
  source: string;
  binaries: string[];
  architectures: string[];
  version: string;
  maintainer: string;
  uploaders: string[];
  buildDepends: Relation[][];
  buildDependsArch: Relation[][];
  buildDependsIndep: Relation[][];
  buildConflicts: Relation[][];
  buildConflictsArch: Relation[][];
  buildConflictsIndep: Relation[][];
  packageList: PackageListEntry[];
  files: ListedFile[];
}

const MAX_CONTROL_FILE = 16 * 1024 * 1024;

/** Read a text control file with a size limit (hostile inputs cannot make us buffer gigabytes). */
export async function readControlText(path: string, limit = MAX_CONTROL_FILE): Promise<string> {
  let data: Buffer;
  try {
    const handle = await open(path, "r");
    try {
      const { size } = await handle.stat();
      if (size > limit) {
        throw debianError("CONTROL_FILE_INVALID", `${path}: ${size} bytes is more than the limit of ${limit} for a control file`, {
          details: { path },
        });
      }
      data = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (isCodedError(error)) throw error;
    throw debianError("LISTED_FILE_MISSING", `${path}: cannot read: ${(error as Error).message}`, { cause: error, details: { path } });
  }
  return data.toString("utf8");
}

/** Split a possibly signed control file and parse its one paragraph; errors become CONTROL_FILE_INVALID. */
export function parseControlFile(text: string, source: string): { paragraph: Paragraph; signature?: string } {
  try {
    let body = text;
    let signature: string | undefined;
    if (isSignedMessage(text)) {
      const signed = parseSignedMessage(text, source);
      body = `${signed.text}\n`;
      signature = signed.signature;
    }
    const paragraph = parseDeb822Single(body, { source });
    return signature === undefined ? { paragraph } : { paragraph, signature };
  } catch (error) {
    if (isCodedError(error, "CONTROL_FILE_INVALID")) throw error;
    throw debianError("CONTROL_FILE_INVALID", `${source}: ${(error as Error).message}`, { cause: error, details: { source } });
  }
}

/** Helpers shared with .changes/.buildinfo: typed access that names the file and field on errors. */
export function fieldReader(paragraph: Paragraph, source: string) {
  const invalid = (field: string, why: string): never => {
    throw debianError("CONTROL_FILE_INVALID", `${source}: field ${field}: ${why}`, { details: { source, field } });
  };
  const required = (field: string): string => {
    const value = paragraph.get(field);
    if (value === undefined || value.trim() === "") invalid(field, "missing or empty");
    return value!.trim();
  };
  const words = (field: string, separator: RegExp = /[\s,]+/): string[] =>
    (paragraph.get(field) ?? "")
      .split(separator)
      .map((w) => w.trim())
      .filter((w) => w !== "");
  const relations = (field: string): Relation[][] => {
    const value = paragraph.get(field);
    if (value === undefined || value.trim() === "") return [];
    try {
      return parseRelations(value, { field, source });
    } catch (error) {
      return invalid(field, (error as Error).message);
    }
  };
  const version = (field: string): string => {
    const value = required(field);
    try {
      parseVersion(value, { what: `${field} field of ${source}` });
    } catch (error) {
      invalid(field, (error as Error).message);
    }
    return value;
  };
  const packageName = (field: string, value: string): string => {
    try {
      return checkPackageName(value, field);
    } catch {
      return invalid(field, `${JSON.stringify(value)} is not a valid package name`);
    }
  };
  return { invalid, required, words, relations, version, packageName };
}

/** Parse the text of a .dsc (signed or not). */
export function parseDsc(text: string, source = "input.dsc"): SourceControl {
  const { paragraph, signature } = parseControlFile(text, source);
  const f = fieldReader(paragraph, source);
  const format = f.required("Format");
  if (!/^[0-9]+\.[0-9]+( \([a-z0-9]+\))?$/.test(format)) f.invalid("Format", `unknown source format ${JSON.stringify(format)}`);
  const packageList: PackageListEntry[] = paragraph.lines("Package-List").map((line) => {
    const [pkg, type, section, priority, ...rest] = line.split(/\s+/);
    if (pkg === undefined || type === undefined || section === undefined || priority === undefined) {
      return f.invalid("Package-List", `expected "package type section priority", got ${JSON.stringify(line)}`);
    }
    const extra: Record<string, string> = {};
    for (const kv of rest) {
      const eq = kv.indexOf("=");
      if (eq > 0) extra[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    return { package: pkg, type, section, priority, extra };
  });
  const control: SourceControl = {
    paragraph,
    format,
    source: f.packageName("Source", f.required("Source")),
    binaries: f.words("Binary", /,/).map((b) => f.packageName("Binary", b)),
    architectures: f.words("Architecture", /\s+/),
    version: f.version("Version"),
    maintainer: f.required("Maintainer"),
    uploaders: f.words("Uploaders", /,(?![^<]*>)/),
    buildDepends: f.relations("Build-Depends"),
    buildDependsArch: f.relations("Build-Depends-Arch"),
    buildDependsIndep: f.relations("Build-Depends-Indep"),
    buildConflicts: f.relations("Build-Conflicts"),
    buildConflictsArch: f.relations("Build-Conflicts-Arch"),
    buildConflictsIndep: f.relations("Build-Conflicts-Indep"),
    packageList,
    files: parseListedFiles(paragraph, source),
  };
  if (control.architectures.length === 0) f.invalid("Architecture", "missing or empty");
  if (control.files.length === 0) f.invalid("Files", "lists no files");
  if (signature !== undefined) control.signature = signature;
  return control;
}

/** Read and parse a .dsc file. */
export async function readDsc(path: string): Promise<SourceControl> {
  return parseDsc(await readControlText(path), path);
}

/** Check that every file the .dsc lists is beside it with the listed size and digests. */
export async function verifyDscFiles(path: string, dsc?: SourceControl): Promise<SourceControl> {
  const control = dsc ?? (await readDsc(path));
  await verifyListedFiles(control.files, dirname(resolve(path)), { source: path });
  return control;
}

/** Absolute paths of the .dsc and every file it lists, in listing order (what to copy to move the source package). */
export async function dscFilePaths(path: string, dsc?: SourceControl): Promise<string[]> {
  const control = dsc ?? (await readDsc(path));
  const dir = dirname(resolve(path));
  return [resolve(path), ...control.files.map((f) => join(dir, f.name))];
}

/** The file name a .dsc is expected to have: `source_version-without-epoch.dsc`. */
export function dscFileName(source: string, version: string): string {
  checkSourceName(source);
  checkVersion(version);
  return `${source}_${version.replace(/^[0-9]+:/, "")}.dsc`;
}
