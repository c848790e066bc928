import { Paragraph } from "./deb822.js";
import { debianError } from "./errors.js";

/**
 * Stanzas of Packages and Sources indexes, with the fields and field order apt-ftparchive (apt 2.6) writes
 * for the same .deb or .dsc, so that our indexes and the reference tool's can be compared field by field.
 *
 * Packages: the control fields in apt's canonical order (not dpkg's: dpkg-deb -f shows the control file as
 * dpkg-gencontrol wrote it, apt-ftparchive reorders), Filename, Size and the checksums in the middle,
 * Homepage and Description after them, then every field apt does not know in the control file's order.
 * Deliberate difference: SHA1 and SHA512 are optional here (off by default, as in the Debian archive);
 * apt-ftparchive writes them unless told not to.
 *
 * Sources: Source renamed to Package, the .dsc's own entry added in front of Files/Checksums-*, and
 * Directory. Deliberate difference: without an override file apt-ftparchive drops a .dsc's Priority; we
 * keep whatever the .dsc says.
 */

/** apt's order for binary package stanzas (known fields); unknown fields follow in their original order. */
export const PACKAGES_FIELD_ORDER: readonly string[] = [
  "Package",
  "Package-Type",
  "Architecture",
  "Subarchitecture",
  "Version",
  "Revision",
  "Package-Revision",
  "Package_Revision",
  "Kernel-Version",
  "Built-Using",
  "Static-Built-Using",
  "Built-For-Profiles",
  "Auto-Built-Package",
  "Multi-Arch",
  "Status",
  "Priority",
  "Class",
  "Build-Essential",
  "Protected",
  "Important",
  "Essential",
  "Installer-Menu-Item",
  "Section",
  "Source",
  "Origin",
  "Phased-Update-Percentage",
  "Maintainer",
  "Original-Maintainer",
  "Bugs",
  "Config-Version",
  "Conffiles",
  "Triggers-Awaited",
  "Triggers-Pending",
  "Installed-Size",
  "Provides",
  "Pre-Depends",
  "Depends",
  "Recommends",
  "Recommended",
  "Suggests",
  "Optional",
  "Conflicts",
  "Breaks",
  "Replaces",
  "Enhances",
  "Filename",
  "MSDOS-Filename",
  "Size",
  "MD5sum",
  "SHA1",
  "SHA256",
  "SHA512",
  "Homepage",
  "Description",
  "Description-md5",
  "Tag",
  "Task",
];

/** apt's order for source package stanzas. */
export const SOURCES_FIELD_ORDER: readonly string[] = [
  "Package",
  "Source",
  "Format",
  "Binary",
  "Architecture",
  "Version",
  "Priority",
  "Class",
  "Section",
  "Origin",
  "Maintainer",
  "Original-Maintainer",
  "Uploaders",
  "Dm-Upload-Allowed",
  "Standards-Version",
  "Build-Depends",
  "Build-Depends-Arch",
  "Build-Depends-Indep",
  "Build-Conflicts",
  "Build-Conflicts-Arch",
  "Build-Conflicts-Indep",
  "Testsuite",
  "Testsuite-Triggers",
  "Homepage",
  "Description",
  "Vcs-Browser",
  "Vcs-Browse",
  "Vcs-Arch",
  "Vcs-Bzr",
  "Vcs-Cvs",
  "Vcs-Darcs",
  "Vcs-Git",
  "Vcs-Hg",
  "Vcs-Mtn",
  "Vcs-Svn",
  "Directory",
  "Package-List",
  "Files",
  "Checksums-Md5",
  "Checksums-Sha1",
  "Checksums-Sha256",
  "Checksums-Sha512",
];

/** Reorder fields: known ones in `order`, then the others in their current order. */
export function orderFields(fields: Paragraph, order: readonly string[]): Paragraph {
  const out = new Paragraph();
  const known = new Set(order.map((n) => n.toLowerCase()));
  for (const name of order) {
    const value = fields.get(name);
    if (value !== undefined) out.set(fields.names().find((n) => n.toLowerCase() === name.toLowerCase()) ?? name, value);
  }
  for (const [name, value] of fields.entries()) if (!known.has(name.toLowerCase())) out.set(name, value);
  return out;
}

/** Fields of an index entry that describe the file rather than the package: replaced, never copied. */
const FILE_FIELDS = ["Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512"];

export interface PackageFileInfo {
  /** Path relative to the repository root, e.g. `pool/main/h/hello/hello_2.10-5_amd64.deb`. */
  filename: string;
  size: number;
  md5: string;
  sha1?: string;
  sha256: string;
  sha512?: string;
}

/** A Packages stanza for a .deb: its control fields plus where the file is and its checksums. */
export function packagesStanza(control: Paragraph, file: PackageFileInfo): Paragraph {
  for (const name of ["Package", "Version", "Architecture"]) {
    if (!control.has(name)) {
      throw debianError("DEB822_MISSING_FIELD", `control file of ${file.filename} has no ${name} field`, {
        details: { file: file.filename, field: name },
      });
    }
  }
  const fields = new Paragraph();
  for (const [name, value] of control.entries()) {
    if (!FILE_FIELDS.some((f) => f.toLowerCase() === name.toLowerCase())) fields.set(name, value);
  }
  fields.set("Filename", file.filename);
  fields.set("Size", String(file.size));
  fields.set("MD5sum", file.md5);
  if (file.sha1 !== undefined) fields.set("SHA1", file.sha1);
  fields.set("SHA256", file.sha256);
  if (file.sha512 !== undefined) fields.set("SHA512", file.sha512);
  return orderFields(fields, PACKAGES_FIELD_ORDER);
}

export interface SourceFileInfo {
  name: string;
  size: number;
  md5: string;
  sha1?: string;
  sha256: string;
  sha512?: string;
}

/**
 * A Sources stanza for a .dsc (its signed text already stripped and parsed). `dsc` is the .dsc file's own
 * entry; `files` the files it lists, with their digests (taken from the files or from the .dsc).
 */
export function sourcesStanza(dscFields: Paragraph, directory: string, dsc: SourceFileInfo, files: readonly SourceFileInfo[]): Paragraph {
  const source = dscFields.get("Source");
  if (source === undefined)
    throw debianError("DEB822_MISSING_FIELD", `${dsc.name}: .dsc has no Source field`, { details: { file: dsc.name, field: "Source" } });
  const fields = new Paragraph();
  fields.set("Package", source);
  const listFields = new Set(["source", "files", "checksums-md5", "checksums-sha1", "checksums-sha256", "checksums-sha512", "directory"]);
  for (const [name, value] of dscFields.entries()) if (!listFields.has(name.toLowerCase())) fields.set(name, value);
  fields.set("Directory", directory);
  const all = [dsc, ...files];
  const list = (pick: (f: SourceFileInfo) => string | undefined) => `\n${all.map((f) => `${pick(f)} ${f.size} ${f.name}`).join("\n")}`;
  fields.set(
    "Files",
    list((f) => f.md5),
  );
  if (all.every((f) => f.sha1 !== undefined))
    fields.set(
      "Checksums-Sha1",
      list((f) => f.sha1),
    );
  fields.set(
    "Checksums-Sha256",
    list((f) => f.sha256),
  );
  if (all.every((f) => f.sha512 !== undefined))
    fields.set(
      "Checksums-Sha512",
      list((f) => f.sha512),
    );
  return orderFields(fields, SOURCES_FIELD_ORDER);
}
