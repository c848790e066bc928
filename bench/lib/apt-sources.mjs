// Source packages fetched with `apt-get source --download-only` through a private APT configuration:
// a deb-src entry for the suite on the host's mirror, with its own source list, source-parts
// directory, list directory and cache directory, so the host's APT sources and state stay as they are.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runChecked, runCommand } from "./proc.mjs";

const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

/**
 * Creates the private APT directory under `dir` (deb-src lines for each of `suites`, main component)
 * and returns the apt-get options that select it.
 */
export function privateAptConfig({ dir, suites, mirror }) {
  const etc = join(dir, "etc");
  const parts = join(etc, "sources.list.d");
  const lists = join(dir, "lists");
  const cache = join(dir, "cache");
  for (const d of [parts, join(lists, "partial"), join(cache, "archives", "partial")]) mkdirSync(d, { recursive: true });
  const sourceList = join(etc, "sources.list");
  const signedBy = existsSync(KEYRING) ? ` [signed-by=${KEYRING}]` : "";
  writeFileSync(sourceList, suites.map((suite) => `deb-src${signedBy} ${mirror} ${suite} main\n`).join(""));
  return [
    "-o",
    `Dir::Etc::SourceList=${sourceList}`,
    "-o",
    `Dir::Etc::SourceParts=${parts}`,
    "-o",
    `Dir::State::Lists=${lists}`,
    "-o",
    `Dir::Cache=${cache}`,
  ];
}

/**
 * Downloads each source package (`NAME` for the newest version in `suites`, or `NAME=VERSION`) into
 * `outDir/<NAME>/` and returns { name, version, dsc } for each.
 */
export async function fetchSourcePackages({ packages, suites, mirror, aptDir, outDir, say }) {
  const aptOptions = privateAptConfig({ dir: aptDir, suites, mirror });
  say(`apt-get update (private config in ${aptDir}: deb-src ${suites.join(", ")} main from the host's mirror)`);
  await runChecked(["apt-get", ...aptOptions, "update"]);
  const result = [];
  for (const spec of packages) {
    const name = spec.split("=")[0];
    const dir = join(outDir, name);
    mkdirSync(dir, { recursive: true });
    const uris = await runChecked(["apt-get", ...aptOptions, "source", "--print-uris", spec], { cwd: dir });
    const dscName = uris.stdout
      .split("\n")
      .map((l) => /^'[^']+'\s+(\S+\.dsc)\s/.exec(l)?.[1] ?? /^Skipping already downloaded file '(\S+\.dsc)'/.exec(l)?.[1])
      .find(Boolean);
    if (!dscName) throw new Error(`apt-get source --print-uris ${name} named no .dsc:\n${uris.stdout}${uris.stderr}`);
    const got = await runCommand(["apt-get", ...aptOptions, "source", "--download-only", spec], { cwd: dir });
    if (got.code !== 0) {
      const why = got.stderr
        .split("\n")
        .filter((l) => l.startsWith("E:"))
        .join("\n");
      throw new Error(
        `apt-get source --download-only ${spec} failed (exit ${got.code}):\n${why || got.stderr.trim()}\n` +
          `hint: when the mirror lacks a file of this version, pick one it serves, e.g. --packages ${name}=VERSION --source-suites ${[...suites, "bookworm"].join(",")}`,
      );
    }
    const dsc = join(dir, dscName);
    if (!existsSync(dsc)) throw new Error(`apt-get source --download-only ${name} did not leave ${dsc}`);
    const version = dscName.replace(/\.dsc$/, "").split("_")[1] ?? "";
    say(`source ${name} ${version}: ${dsc}`);
    result.push({ name, version, dsc });
  }
  return result;
}
