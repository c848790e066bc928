import { orchestratorError } from "../errors.js";
import { checkFileName, checkPackageName, checkVersion } from "./validate.js";

export interface DscSummary {
  source: string;
  version: string;
  architectures: string[];
  /** Files the .dsc lists (Checksums-Sha256), which must be uploaded beside it. */
  files: { name: string; sha256: string; size: number }[];
}

/**
 * The few fields of a .dsc the hub needs to accept a build: Source, Version, Architecture and the
 * Checksums-Sha256 list. An OpenPGP cleartext wrapper is skipped (the signature is not checked here).
 * Kept small on purpose; the full parser lives in the debian package.
 */
export function summarizeDsc(text: string): DscSummary {
  const fail = (message: string) => orchestratorError("SOURCE_INVALID", `.dsc: ${message}`);
  let lines = text.replace(/\r\n/g, "\n").split("\n");
  if (lines[0]?.startsWith("-----BEGIN PGP SIGNED MESSAGE-----")) {
    const start = lines.findIndex((l) => l.trim() === "");
    const end = lines.findIndex((l) => l.startsWith("-----BEGIN PGP SIGNATURE-----"));
    if (start === -1 || end === -1 || end < start) throw fail("malformed OpenPGP cleartext wrapper");
    lines = lines.slice(start + 1, end).map((l) => (l.startsWith("- ") ? l.slice(2) : l));
  }
  const fields = new Map<string, string>();
  let current: string | undefined;
  for (const [index, line] of lines.entries()) {
    if (line.trim() === "") {
      if (fields.size > 0) break;
      continue;
    }
    if (/^[ \t]/.test(line)) {
      if (current === undefined) throw fail(`line ${index + 1}: continuation line before any field`);
      fields.set(current, `${fields.get(current)}\n${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw fail(`line ${index + 1}: expected 'Field: value'`);
    current = line.slice(0, colon).toLowerCase();
    fields.set(current, line.slice(colon + 1).trim());
  }
  const need = (name: string) => {
    const value = fields.get(name.toLowerCase());
    if (value === undefined || value === "") throw fail(`missing field ${name}`);
    return value;
  };
  const source = checkPackageName(need("Source"), "Source");
  const version = checkVersion(need("Version"), "Version");
  const architectures = need("Architecture").split(/\s+/).filter(Boolean);
  const files = need("Checksums-Sha256")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [sha256, size, name, extra] = l.split(/\s+/);
      if (!sha256 || !size || !name || extra !== undefined || !/^[0-9a-f]{64}$/.test(sha256) || !/^[0-9]+$/.test(size))
        throw fail(`malformed Checksums-Sha256 line '${l.slice(0, 100)}'`);
      return { sha256, size: Number(size), name: checkFileName(name, "Checksums-Sha256 file") };
    });
  return { source, version, architectures, files };
}
