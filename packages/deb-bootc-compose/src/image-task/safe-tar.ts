import { createReadStream } from "node:fs";
import { mkdir, readdir } from "node:fs/promises";
import { run } from "@debian-bootc/core";
import { isUnsafeMemberPath, iterateTar } from "@debian-bootc/debian";
import { composeError } from "../errors.js";

/**
 * Unpack a tar that came from elsewhere (an image task's OSTree repository or OCI archive) into a new,
 * empty directory. Every member is read first: only regular files and directories with relative names
 * and no `..` are taken (an OSTree archive repository and an OCI layout hold nothing else); a link, a
 * device, a fifo or a name leaving the directory refuses the whole tar. GNU tar then unpacks it without
 * the members' owners or permission bits beyond the usual (--no-same-owner --no-same-permissions).
 */
export async function extractTarSafely(tarFile: string, into: string, options: { signal?: AbortSignal } = {}): Promise<number> {
  let members = 0;
  try {
    for await (const { entry } of iterateTar(createReadStream(tarFile), { source: tarFile })) {
      members++;
      const name = entry.path.replace(/^\.\//, "");
      if (entry.type !== "file" && entry.type !== "directory")
        throw composeError(
          "IMAGE_RESULT_REFUSED",
          `${tarFile}: member ${entry.path} is a ${entry.type}: only files and directories are taken`,
        );
      if (name === "" || isUnsafeMemberPath(name) || name.split("/").some((part) => part === "."))
        throw composeError("IMAGE_RESULT_REFUSED", `${tarFile}: member ${entry.path} would land outside the directory`);
    }
  } catch (error) {
    if ((error as { code?: string }).code === "IMAGE_RESULT_REFUSED") throw error;
    throw composeError("IMAGE_RESULT_REFUSED", `${tarFile}: not a readable tar: ${(error as Error).message}`, { cause: error });
  }
  await mkdir(into, { recursive: true });
  if ((await readdir(into)).length > 0) throw new Error(`${into} is not empty: a tar is unpacked into a fresh directory only`);
  await run(
    "tar",
    [
      "--extract",
      "--file",
      tarFile,
      "--directory",
      into,
      "--no-same-owner",
      "--no-same-permissions",
      "--no-overwrite-dir",
      "--no-acls",
      "--no-selinux",
      "--no-xattrs",
    ],
    { signal: options.signal },
  );
  return members;
}
