import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkBinaryIdentity, isPlainFileName, poolPrefix } from "@debian-bootc/debian";
import { orchestratorError } from "../errors.js";
import type { RepoPublisher, RepoPublishRequest, RepoPublishResult } from "./publisher.js";

/**
 * A publisher that lays out the pool and writes a manifest.json instead of APT indexes: for tests of the
 * hub's repository logic and for hubs that only need the files. It signs nothing.
 */
export class ListingPublisher implements RepoPublisher {
  async publish(request: RepoPublishRequest): Promise<RepoPublishResult> {
    for (const file of request.files) {
      // the pool path is made of these: checked again here, whatever the hub checked before
      checkBinaryIdentity({ package: file.name, version: file.version, architecture: file.arch, source: file.source });
      if (!isPlainFileName(file.filename) || !file.filename.endsWith(".deb"))
        throw orchestratorError("PATH_INVALID", `${JSON.stringify(file.filename.slice(0, 80))} is not a plain .deb file name`);
      const poolDir = join(request.dir, "pool", "main", poolPrefix(file.source), file.source);
      await mkdir(poolDir, { recursive: true });
      await copyFile(file.path, join(poolDir, file.filename));
    }
    const manifest = {
      tag: request.tag,
      number: request.number,
      suite: request.suite,
      arches: request.arches,
      packages: request.files.map(({ path: _path, ...rest }) => rest),
    };
    await writeFile(join(request.dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    return { signed: false, packages: request.files.length };
  }
  async publicKey(): Promise<string | undefined> {
    return undefined;
  }
}
