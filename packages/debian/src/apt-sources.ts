import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { formatDeb822, Paragraph, parseDeb822 } from "./deb822.js";
import { debianError } from "./errors.js";

/**
 * APT sources: read the host's (one-line sources.list and deb822 .sources) to find the default mirror,
 * and write sources for a chroot. Only *.list and *.sources files count, as for apt itself.
 */
export interface AptSource {
  types: Array<"deb" | "deb-src">;
  uris: string[];
  suites: string[];
  components: string[];
  /** Options such as Signed-By, Architectures, Trusted (deb822 names). */
  options: Record<string, string>;
  enabled: boolean;
  /** Where it was read from, as `file:line`. */
  origin?: string;
}

export async function readSourcesFile(path: string): Promise<AptSource[]> {
  const text = await readFile(path, "utf8");
  return path.endsWith(".sources") ? parseDeb822Sources(text, path) : parseOneLineSources(text, path);
}

/** All sources of a system root (default `/`), in the order apt reads them. */
export async function readSystemSources(root = "/"): Promise<AptSource[]> {
  const out: AptSource[] = [];
  const main = join(root, "etc/apt/sources.list");
  try {
    out.push(...(await readSourcesFile(main)));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const dir = join(root, "etc/apt/sources.list.d");
  let names: string[] = [];
  try {
    names = (await readdir(dir)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  for (const name of names) {
    if (/^[\w.-]+\.(list|sources)$/.test(name)) out.push(...(await readSourcesFile(join(dir, name))));
  }
  return out;
}

/** Known Debian suite names, to tell a Debian mirror from other repositories in the host's sources. */
const DEBIAN_SUITES =
  /^(oldoldstable|oldstable|stable|testing|unstable|sid|experimental|buster|bullseye|bookworm|trixie|forky|duke)(-updates|-backports|-proposed-updates)?$/;

/**
 * The Debian mirror the host uses: the first enabled `deb` source whose suites are Debian's and whose
 * components include main (security and third-party repositories are skipped).
 */
export async function defaultMirror(root = "/"): Promise<string> {
  const sources = await readSystemSources(root);
  for (const source of sources) {
    if (!source.enabled || !source.types.includes("deb")) continue;
    if (!source.components.includes("main")) continue;
    if (!source.suites.some((s) => DEBIAN_SUITES.test(s))) continue;
    const uri = source.uris.find((u) => /^(https?|file):/.test(u));
    if (uri) return uri.replace(/\/+$/, "");
  }
  throw debianError("NO_MIRROR", `no Debian mirror found in ${join(root, "etc/apt/sources.list")}{,.d/*}`, {
    hint: "give one explicitly (--mirror URL or the mirror field of the configuration)",
  });
}

export function parseOneLineSources(text: string, origin = "sources.list"): AptSource[] {
  const out: AptSource[] = [];
  text.split("\n").forEach((rawLine, index) => {
    const line = rawLine.replace(/#.*$/, "").trim();
    if (line === "") return;
    const where = `${origin}:${index + 1}`;
    const match = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)(.*)$/.exec(line);
    if (!match) {
      throw debianError("SOURCES_INVALID", `${where}: expected "deb [options] URI SUITE [COMPONENT...]", got ${JSON.stringify(line)}`, {
        details: { file: origin, line: index + 1 },
      });
    }
    const options: Record<string, string> = {};
    for (const option of (match[2] ?? "").split(/\s+/).filter(Boolean)) {
      const eq = option.indexOf("=");
      if (eq <= 0) throw debianError("SOURCES_INVALID", `${where}: option ${JSON.stringify(option)} is not KEY=VALUE`);
      options[oneLineOptionName(option.slice(0, eq))] = option.slice(eq + 1).replaceAll(",", " ");
    }
    out.push({
      types: [match[1] as "deb" | "deb-src"],
      uris: [match[3]!],
      suites: [match[4]!],
      components: match[5]!.trim().split(/\s+/).filter(Boolean),
      options,
      enabled: true,
      origin: where,
    });
  });
  return out;
}

function oneLineOptionName(name: string): string {
  const known: Record<string, string> = {
    arch: "Architectures",
    "signed-by": "Signed-By",
    trusted: "Trusted",
    lang: "Languages",
    target: "Targets",
  };
  return known[name.toLowerCase()] ?? name;
}

export function parseDeb822Sources(text: string, origin = "sources"): AptSource[] {
  return parseDeb822(text, { source: origin, comments: true }).map((p) => {
    const where = `${origin}:${p.line ?? 0}`;
    const words = (name: string) => (p.get(name) ?? "").split(/\s+/).filter(Boolean);
    const types = words("Types");
    if (types.length === 0 || types.some((t) => t !== "deb" && t !== "deb-src")) {
      throw debianError("SOURCES_INVALID", `${where}: Types must list deb and/or deb-src, got ${JSON.stringify(p.get("Types") ?? "")}`);
    }
    if (words("URIs").length === 0 || words("Suites").length === 0) {
      throw debianError("SOURCES_INVALID", `${where}: an entry needs URIs and Suites`);
    }
    const options: Record<string, string> = {};
    for (const [name, value] of p.entries()) {
      if (!/^(Types|URIs|Suites|Components|Enabled)$/i.test(name)) options[name] = value;
    }
    return {
      types: types as Array<"deb" | "deb-src">,
      uris: words("URIs"),
      suites: words("Suites"),
      components: words("Components"),
      options,
      enabled: (p.get("Enabled") ?? "yes").toLowerCase() !== "no",
      origin: where,
    };
  });
}

/** deb822 text for a chroot's /etc/apt/sources.list.d/*.sources. */
export function formatDeb822Sources(sources: readonly AptSource[]): string {
  return formatDeb822(
    sources.map((s) => {
      const p = new Paragraph([
        ["Types", s.types.join(" ")],
        ["URIs", s.uris.join(" ")],
        ["Suites", s.suites.join(" ")],
      ]);
      if (s.components.length > 0) p.set("Components", s.components.join(" "));
      if (!s.enabled) p.set("Enabled", "no");
      for (const [name, value] of Object.entries(s.options)) p.set(name, value);
      return p;
    }),
  );
}

/** One-line form, as `--extra-repo` takes and as mmdebstrap accepts on its command line. */
export function formatOneLineSource(source: AptSource): string[] {
  const opts = Object.entries(source.options)
    .map(([k, v]) => `${k.toLowerCase() === "architectures" ? "arch" : k.toLowerCase()}=${v.split(/\s+/).join(",")}`)
    .join(" ");
  return source.types.flatMap((type) =>
    source.uris.flatMap((uri) =>
      source.suites.map((suite) => [type, opts ? `[${opts}]` : "", uri, suite, ...source.components].filter(Boolean).join(" ")),
    ),
  );
}
