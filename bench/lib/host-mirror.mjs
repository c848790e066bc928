// The Debian mirror the host already uses, read at run time from its APT sources (deb822 *.sources
// files and one-line *.list files). Nothing here names a mirror: the benchmark must never write one
// into the repository.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Entries { uri, suites, types } from the host's APT sources, in the order APT reads them. */
export function readHostAptSources(etcApt = "/etc/apt") {
  const entries = [];
  const listFile = join(etcApt, "sources.list");
  if (existsSync(listFile)) entries.push(...parseOneLine(readFileSync(listFile, "utf8")));
  const partsDir = join(etcApt, "sources.list.d");
  if (existsSync(partsDir)) {
    for (const name of readdirSync(partsDir).sort()) {
      const text = readFileSync(join(partsDir, name), "utf8");
      if (name.endsWith(".sources")) entries.push(...parseDeb822(text));
      else if (name.endsWith(".list")) entries.push(...parseOneLine(text));
    }
  }
  return entries;
}

/**
 * The main Debian archive URI of the host (the first entry that is not a security or updates
 * suite), without a trailing slash. Throws with a hint when there is none.
 */
export function hostMirror(etcApt = "/etc/apt") {
  const entries = readHostAptSources(etcApt);
  const main = entries.find((e) => !/-security\/?$/.test(e.uri) && e.suites.some((s) => !/[-/](security|updates|backports)$/.test(s)));
  if (!main) {
    throw new Error(`no Debian archive found in the APT sources under ${etcApt}; pass --mirror URI (the archive root, e.g. .../debian)`);
  }
  return main.uri.replace(/\/+$/, "");
}

function parseDeb822(text) {
  const entries = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = {};
    let last;
    for (const line of stanza.split("\n")) {
      if (line.startsWith("#") || line.trim() === "") continue;
      if (/^\s/.test(line) && last) {
        fields[last] += ` ${line.trim()}`;
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (m) {
        last = m[1].toLowerCase();
        fields[last] = m[2].trim();
      }
    }
    if (!fields.uris || (fields.enabled ?? "yes").toLowerCase() === "no") continue;
    const types = (fields.types ?? "").split(/\s+/).filter(Boolean);
    const suites = (fields.suites ?? "").split(/\s+/).filter(Boolean);
    for (const uri of fields.uris.split(/\s+/).filter(Boolean)) entries.push({ uri, suites, types });
  }
  return entries;
}

function parseOneLine(text) {
  const entries = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    const m = /^(deb|deb-src)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m) entries.push({ uri: m[2], suites: [m[3]], types: [m[1]] });
  }
  return entries;
}
