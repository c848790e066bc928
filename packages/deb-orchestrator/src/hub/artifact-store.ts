import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { link, mkdir, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { orchestratorError } from "../errors.js";
import { checkSha256 } from "./validate.js";

export interface StoredArtifact {
  sha256: string;
  size: number;
  /** False when the same content was stored before (the upload was checked and dropped). */
  created: boolean;
}

/**
 * Content-addressed files under `<dataDir>/objects/aa/<sha256>`. An upload streams to a temporary file in
 * the same file system while it is hashed; only a file whose size and sha256 match what the client
 * declared is linked into place, and an existing object is never replaced. Anything else leaves nothing.
 */
export class ArtifactStore {
  readonly root: string;
  private readonly tmp: string;

  constructor(
    dataDir: string,
    readonly maxSize: number = 4 * 1024 ** 3,
  ) {
    this.root = join(dataDir, "objects");
    this.tmp = join(dataDir, "tmp");
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await rm(this.tmp, { recursive: true, force: true });
    await mkdir(this.tmp, { recursive: true });
  }

  pathOf(sha256: string): string {
    checkSha256(sha256);
    return join(this.root, sha256.slice(0, 2), sha256);
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await stat(this.pathOf(sha256));
      return true;
    } catch {
      return false;
    }
  }

  async size(sha256: string): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(sha256))).size;
    } catch {
      return undefined;
    }
  }

  /** Remove a stored object (deleting a build); true when it was there. Callers check nothing refers to it. */
  async remove(sha256: string): Promise<boolean> {
    try {
      await unlink(this.pathOf(sha256));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
  }

  open(sha256: string): Readable {
    return createReadStream(this.pathOf(sha256));
  }

  async put(body: Readable, declared: { sha256: string; size: number }): Promise<StoredArtifact> {
    checkSha256(declared.sha256);
    if (!Number.isSafeInteger(declared.size) || declared.size < 0)
      throw orchestratorError("REQUEST_INVALID", "size must be a non-negative integer", { details: { field: "size" } });
    if (declared.size > this.maxSize)
      throw orchestratorError("BODY_TOO_LARGE", `upload of ${declared.size} bytes exceeds the limit of ${this.maxSize} bytes`);
    const tmpPath = join(this.tmp, `${declared.sha256}.${randomBytes(6).toString("hex")}`);
    const hash = createHash("sha256");
    let size = 0;
    const limit = declared.size;
    const out = createWriteStream(tmpPath, { flags: "wx" });
    try {
      await pipeline(
        body,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            size += chunk.length;
            if (size > limit) throw orchestratorError("ARTIFACT_MISMATCH", `upload is longer than the declared ${limit} bytes`);
            hash.update(chunk);
            yield chunk;
          }
        },
        out,
      );
      if (size !== declared.size)
        throw orchestratorError("ARTIFACT_MISMATCH", `upload has ${size} bytes, ${declared.size} were declared`, {
          details: { declaredSize: declared.size, size },
        });
      const actual = hash.digest("hex");
      if (actual !== declared.sha256)
        throw orchestratorError("ARTIFACT_MISMATCH", `upload has sha256 ${actual}, ${declared.sha256} was declared`, {
          details: { declared: declared.sha256, actual },
        });
      const finalPath = this.pathOf(actual);
      await mkdir(join(this.root, actual.slice(0, 2)), { recursive: true });
      try {
        await link(tmpPath, finalPath); // fails with EEXIST instead of replacing an existing object
        return { sha256: actual, size, created: true };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST") return { sha256: actual, size, created: false };
        throw error;
      }
    } finally {
      // a failed upload may end before the temporary file was even opened: wait for the stream to close,
      // or the open would create the file after it was removed
      if (!out.closed) await new Promise<void>((resolve) => out.destroy().once("close", () => resolve()));
      await rm(tmpPath, { force: true });
    }
  }
}
