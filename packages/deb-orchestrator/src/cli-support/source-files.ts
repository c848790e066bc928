import { readdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { coreError, run } from "@debian-bootc/core";
import { dscFilePaths } from "@debian-bootc/debian";

/** A .dsc and the files it lists, or a source tree packed with dpkg-source -b first. */
export async function sourceFiles(input: string): Promise<{ dsc: string; files: string[] }> {
  const info = await stat(input).catch(() => undefined);
  if (!info) throw coreError("USAGE", `${input} does not exist`);
  let dsc = resolve(input);
  if (info.isDirectory()) {
    const parent = dirname(dsc);
    const before = new Set(await readdir(parent));
    // the absolute path: a directory named "-x" stays a path, never an option
    await run("dpkg-source", ["-b", dsc], { cwd: parent, debianPackage: "dpkg-dev" });
    const made = (await readdir(parent)).filter((f) => f.endsWith(".dsc") && !before.has(f));
    if (made.length !== 1 || !made[0]) throw coreError("USAGE", `dpkg-source -b ${input} did not produce exactly one .dsc`);
    dsc = join(parent, made[0]);
  } else if (!dsc.endsWith(".dsc")) throw coreError("USAGE", `${input}: expected a .dsc file or a source directory`);
  return { dsc, files: await dscFilePaths(dsc) };
}
