import { createWriteStream } from "node:fs";
import { lstat, open, rename, rm } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { siblingTempPath } from "@debian-bootc/core";
import { scanRootfs } from "./rootfs-scan.js";
import { END_OF_ARCHIVE, encodeTarHeader, paddingFor } from "./tar-writer.js";

/**
 * Write an OCI image layout directory as an .ociarchive (a plain tar of the layout, as
 * `skopeo copy oci-archive:` reads it): entries in byte order, mode 0644/0755, owner 0:0 and one
 * fixed mtime, so the archive is as reproducible as the layout.
 */
export async function writeOciArchive(layout: string, archivePath: string, sourceDateEpoch = 0, signal?: AbortSignal): Promise<void> {
  const entries = await scanRootfs(layout, { include: (path) => !/(^|\/)\.[^/]*\.tmp-/.test(path) });
  async function* generate(): AsyncGenerator<Buffer> {
    for (const entry of entries) {
      if (entry.type !== "file" && entry.type !== "directory") continue;
      const mode = entry.type === "directory" ? 0o755 : 0o644;
      yield encodeTarHeader({ path: entry.path, type: entry.type, mode, uid: 0, gid: 0, size: entry.size, mtime: sourceDateEpoch });
      if (entry.type === "file" && entry.size > 0) {
        const handle = await open(`${layout}/${entry.path}`, "r");
        try {
          let done = 0;
          while (done < entry.size) {
            const buffer = Buffer.alloc(Math.min(1 << 20, entry.size - done));
            const { bytesRead } = await handle.read(buffer, 0, buffer.length, done);
            if (bytesRead === 0) throw new Error(`${entry.path}: shorter than expected`);
            done += bytesRead;
            yield buffer.subarray(0, bytesRead);
          }
        } finally {
          await handle.close();
        }
        yield paddingFor(entry.size);
      }
    }
    yield END_OF_ARCHIVE;
  }
  const temp = siblingTempPath(archivePath);
  try {
    await pipeline(Readable.from(generate()), createWriteStream(temp, { flags: "wx" }), { signal });
    await rename(temp, archivePath);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await lstat(archivePath);
}
