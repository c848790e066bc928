import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "@debian-bootc/core";
import { defaultMirror } from "@debian-bootc/debian";

/** A source package from trixie on the host's mirror, through a private APT configuration under `dir`. */
export async function fetchSource(dir: string, name: string): Promise<string> {
  const mirror = await defaultMirror();
  const etc = join(dir, "apt", "etc");
  const lists = join(dir, "apt", "lists");
  const cache = join(dir, "apt", "cache");
  for (const d of [join(etc, "parts"), join(lists, "partial"), join(cache, "archives", "partial")]) await mkdir(d, { recursive: true });
  await writeFile(join(etc, "sources.list"), `deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} trixie main\n`);
  const options = [
    "-o",
    `Dir::Etc::SourceList=${join(etc, "sources.list")}`,
    "-o",
    `Dir::Etc::SourceParts=${join(etc, "parts")}`,
    "-o",
    `Dir::State::Lists=${lists}`,
    "-o",
    `Dir::Cache=${cache}`,
  ];
  await run("apt-get", [...options, "update", "-q"], { debianPackage: "apt" });
  const sources = join(dir, "sources");
  await mkdir(sources, { recursive: true });
  await run("apt-get", [...options, "source", "--download-only", "-q", name], { cwd: sources, debianPackage: "apt" });
  const dsc = (await readdir(sources)).find((f) => f.endsWith(".dsc"));
  if (!dsc) throw new Error(`apt-get source ${name} gave no .dsc`);
  return join(sources, dsc);
}

/**
 * A new Debian revision of the source (one changelog entry, "+SUFFIX"), so the version installed at the end
 * can only have come from the hub's repository.
 */
export async function rebuildAsNewVersion(dsc: string, suffix: string): Promise<{ dsc: string; version: string }> {
  const dir = join(dsc, "..");
  await run("dpkg-source", ["-x", dsc, "unpacked"], { cwd: dir, debianPackage: "dpkg-dev" });
  const changelog = join(dir, "unpacked", "debian", "changelog");
  const text = await readFile(changelog, "utf8");
  const match = /^(\S+) \(([^)]+)\)/.exec(text);
  if (!match) throw new Error("unreadable debian/changelog");
  const version = `${match[2]}+${suffix}`;
  const date = new Date().toUTCString().replace("GMT", "+0000");
  await writeFile(
    changelog,
    `${match[1]} (${version}) trixie; urgency=medium\n\n  * Rebuilt by deb-orchestrator's end-to-end test.\n\n -- Test <test@localhost>  ${date}\n\n${text}`,
  );
  await run("dpkg-source", ["-b", "unpacked"], { cwd: dir, debianPackage: "dpkg-dev" });
  const built = (await readdir(dir)).find((f) => f.endsWith(`_${version.replace(/^[0-9]+:/, "")}.dsc`));
  if (!built) throw new Error("dpkg-source -b made no .dsc");
  return { dsc: join(dir, built), version };
}

/** The .dsc and every file it lists. */
export async function sourceFiles(dsc: string): Promise<string[]> {
  const files = [dsc];
  for (const line of (await readFile(dsc, "utf8")).split("\n").filter((l) => /^ [0-9a-f]{64} /.test(l)))
    files.push(join(dsc, "..", line.trim().split(/\s+/)[2]!));
  return [...new Set(files)];
}
